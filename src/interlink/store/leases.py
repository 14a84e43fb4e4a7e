"""Leases: which node owns a piece of background work, until when, under which fencing token.

A lease is taken only when it is free: never held, released, or expired. Taking it is one
conditional upsert, so two nodes racing for it on either database get one winner. Its
``token`` moves on every time it is taken afresh (by another owner, or by the same one after it
lapsed), and a released lease keeps its row, so tokens only grow: work stamped with an older
token is stale. A holder renews before ``expires_at``; renewing or releasing needs the owner
and the token, so a node that lost a lease cannot extend or free its successor's.

Times come from the store's clock (``Database.now``): nodes judge expiry by their own clocks,
so they must agree (NTP) to well within a lease's time to live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from interlink.errors import ConfigError
from interlink.store.database import Database, Row

# Queries are whole literals, as in the other repositories.
# Taken when absent, expired, or already the caller's (then it is only extended, same token).
_ACQUIRE: Final = (
    "INSERT INTO leases (name, owner, token, acquired_at, expires_at) VALUES (?, ?, 1, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET "
    "token = CASE WHEN leases.owner = excluded.owner AND leases.expires_at > excluded.acquired_at "
    "THEN leases.token ELSE leases.token + 1 END, "
    "acquired_at = CASE WHEN leases.owner = excluded.owner "
    "AND leases.expires_at > excluded.acquired_at "
    "THEN leases.acquired_at ELSE excluded.acquired_at END, "
    "owner = excluded.owner, expires_at = excluded.expires_at "
    "WHERE leases.owner = excluded.owner OR leases.expires_at <= excluded.acquired_at "
    "RETURNING name, owner, token, acquired_at, expires_at"
)
_RENEW: Final = (
    "UPDATE leases SET expires_at = ? "
    "WHERE name = ? AND owner = ? AND token = ? AND expires_at > ? "
    "RETURNING name, owner, token, acquired_at, expires_at"
)
_RELEASE: Final = (
    "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ? AND token = ? AND expires_at > ?"
)


@dataclass(frozen=True)
class Lease:
    """A lease as the store last recorded it."""

    name: str
    owner: str
    token: int  # the fencing token: larger means later
    acquired_at: datetime  # when this owner took it (kept across renewals)
    expires_at: datetime

    def held_at(self, moment: datetime) -> bool:
        return moment < self.expires_at


class Leases:
    def __init__(self, db: Database) -> None:
        self._db = db

    def acquire(self, name: str, owner: str, ttl: float) -> Lease | None:
        """Take ``name`` for ``owner`` for ``ttl`` seconds when it is free, or extend it when
        ``owner`` already holds it; None when someone else holds it."""
        _check(name, owner, ttl)
        now = self._db.now()
        ts = self._db.ts
        with self._db.transaction() as session:
            row = session.fetchone(_ACQUIRE, (name, owner, ts(now), ts(_after(now, ttl))))
        return self._lease(row) if row is not None else None

    def renew(self, lease: Lease, ttl: float) -> Lease | None:
        """Extend a lease its holder still holds (same owner and token, not expired) by
        ``ttl`` seconds from now; None when it was lost."""
        _check(lease.name, lease.owner, ttl)
        now = self._db.now()
        ts = self._db.ts
        with self._db.transaction() as session:
            row = session.fetchone(
                _RENEW, (ts(_after(now, ttl)), lease.name, lease.owner, lease.token, ts(now))
            )
        return self._lease(row) if row is not None else None

    def release(self, lease: Lease) -> bool:
        """Give a held lease up now, so another node may take it at once; False when it was
        not held any more."""
        now = self._db.ts(self._db.now())
        with self._db.transaction() as session:
            changed = session.execute(_RELEASE, (now, lease.name, lease.owner, lease.token, now))
        return changed > 0

    def list(self, prefix: str = "", *, held_only: bool = False) -> list[Lease]:
        """Leases whose names start with ``prefix``, by name; only unexpired ones with
        ``held_only``."""
        now = self._db.now()
        with self._db.session() as session:
            rows = session.fetchall(
                "SELECT name, owner, token, acquired_at, expires_at FROM leases ORDER BY name"
            )
        leases = [self._lease(row) for row in rows if str(row[0]).startswith(prefix)]
        return [lease for lease in leases if lease.held_at(now)] if held_only else leases

    def now(self) -> datetime:
        """The store's time, which expiry is judged by."""
        return self._db.now()

    def _lease(self, row: Row) -> Lease:
        return Lease(
            str(row[0]), str(row[1]), int(row[2]), self._db.dt(row[3]), self._db.dt(row[4])
        )


def _after(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


def _check(name: str, owner: str, ttl: float) -> None:
    if not name or not owner:
        raise ConfigError("a lease needs a name and an owner")
    if not ttl > 0:
        raise ConfigError(f"a lease's time to live must be positive, got {ttl}")
