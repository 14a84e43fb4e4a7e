"""Sealed secret values, one row per version: ciphertext, wrapped data key, master key id.

This repository only stores and finds sealed rows; sealing and opening them (the envelope
encryption and the master keys) is ``interlink.vault``'s, so no plaintext passes through here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from interlink.errors import ConfigError, NotFound
from interlink.store.database import Database, Row


@dataclass(frozen=True)
class SealedSecret:
    """One version of a secret as stored; ``repr`` leaves the sealed bytes out."""

    name: str
    version: int
    key_id: str  # the id of the master key that wrapped the data key
    created_at: datetime
    ciphertext: bytes = field(repr=False)
    wrapped_key: bytes = field(repr=False)


@dataclass(frozen=True)
class SecretSummary:
    """What may be shown of a secret: its name, current version and when it last changed."""

    name: str
    version: int
    versions: int  # versions kept
    created_at: datetime  # of the first version kept
    updated_at: datetime  # of the current version


_COLUMNS = "name, version, key_id, created_at, ciphertext, wrapped_key"


class SecretRows:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        name: str,
        seal: Callable[[int], tuple[bytes, bytes, str]],
        *,
        exists: bool | None,
    ) -> SealedSecret:
        """Store the next version of ``name``, sealed by ``seal(version)`` (ciphertext, wrapped
        key, key id: the version is part of what the seal binds, so it is known first).
        ``exists`` True requires the secret to exist, False requires it not to."""
        with self._db.transaction() as session:
            row = session.fetchone("SELECT MAX(version) FROM secrets WHERE name = ?", (name,))
            current = int(row[0]) if row is not None and row[0] is not None else 0
            if exists is True and current == 0:
                raise NotFound(f"no secret {name!r} in the store")
            if exists is False and current > 0:
                raise ConfigError(
                    f"secret {name!r} exists (version {current}): "
                    f"use `interlink secrets rotate {name}` for a new value"
                )
            version = current + 1
            ciphertext, wrapped, key_id = seal(version)
            created_at = self._db.now()
            session.execute(
                f"INSERT INTO secrets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                (name, version, key_id, self._db.ts(created_at), ciphertext, wrapped),
            )
        return SealedSecret(name, version, key_id, created_at, ciphertext, wrapped)

    def current(self, name: str) -> SealedSecret | None:
        """The newest version of ``name``, or None."""
        with self._db.session() as session:
            row = session.fetchone(
                f"SELECT {_COLUMNS} FROM secrets WHERE name = ? "  # noqa: S608
                "ORDER BY version DESC LIMIT 1",
                (name,),
            )
        return None if row is None else self._sealed(row)

    def summaries(self) -> list[SecretSummary]:
        """Every secret by name: current version, versions kept, first and last change."""
        with self._db.session() as session:
            rows = session.fetchall(
                "SELECT name, MAX(version), COUNT(*), MIN(created_at), MAX(created_at) "
                "FROM secrets GROUP BY name ORDER BY name"
            )
        return [
            SecretSummary(r[0], int(r[1]), int(r[2]), self._db.dt(r[3]), self._db.dt(r[4]))
            for r in rows
        ]

    def delete(self, name: str) -> int:
        """Remove every version of ``name``; how many there were. Raises ``NotFound``."""
        with self._db.transaction() as session:
            removed = session.execute("DELETE FROM secrets WHERE name = ?", (name,))
        if removed == 0:
            raise NotFound(f"no secret {name!r} in the store")
        return removed

    def not_under(
        self, key_id: str, limit: int, skip: Sequence[tuple[str, int]] = ()
    ) -> list[SealedSecret]:
        """Up to ``limit`` rows whose data key another master key wrapped, oldest first, less
        those in ``skip`` (rows found unreadable earlier)."""
        with self._db.session() as session:
            rows = session.fetchall(
                f"SELECT {_COLUMNS} FROM secrets WHERE key_id <> ? "  # noqa: S608
                "ORDER BY name, version LIMIT ?",
                (key_id, limit + len(skip)),
            )
        skipped = set(skip)
        found = [self._sealed(r) for r in rows if (r[0], int(r[1])) not in skipped]
        return found[:limit]

    def rewrap(self, rows: Sequence[tuple[SealedSecret, bytes, str]]) -> int:
        """Replace each row's wrapped key and key id, in one transaction; a row changed since it
        was read (its key id moved) is left alone. How many rows changed."""
        changed = 0
        with self._db.transaction() as session:
            for old, wrapped, key_id in rows:
                changed += session.execute(
                    "UPDATE secrets SET wrapped_key = ?, key_id = ? "
                    "WHERE name = ? AND version = ? AND key_id = ?",
                    (wrapped, key_id, old.name, old.version, old.key_id),
                )
        return changed

    def count_by_key(self) -> dict[str, int]:
        """How many rows each master key (by id) wrapped."""
        with self._db.session() as session:
            rows = session.fetchall("SELECT key_id, COUNT(*) FROM secrets GROUP BY key_id")
        return {str(r[0]): int(r[1]) for r in rows}

    def version(self) -> int:
        """A number that moves whenever a secret value is added or removed, by any process:
        one row to read, so a node re-resolves its secrets only when it moved."""
        with self._db.session() as session:
            row = session.fetchone("SELECT version FROM secrets_version")
        return int(row[0]) if row is not None else 0

    def _sealed(self, row: Row) -> SealedSecret:
        return SealedSecret(
            name=row[0],
            version=int(row[1]),
            key_id=row[2],
            created_at=self._db.dt(row[3]),
            ciphertext=bytes(row[4]),
            wrapped_key=bytes(row[5]),
        )
