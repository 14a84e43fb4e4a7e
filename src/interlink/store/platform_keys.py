"""The platform's signing keys for the OAuth2 access tokens the gateway issues.

The newest key signs; an older one stays, published at the gateway's JWKS, until every token it
signed has expired, then the rotation deletes it. The private key (PKCS#8 PEM) is sealed like a
secret's value (migration 0038): this repository only stores and finds sealed rows, sealing and
opening them is ``interlink.vault``'s. A row written before 0038 holds its PEM in plain
(``key_id`` None) until the rotation or ``secrets rewrap`` seals it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from interlink.store.database import Database, Row


@dataclass(frozen=True)
class PlatformKey:
    """One key as stored; ``repr`` leaves the key material, plain or sealed, out."""

    kid: str
    alg: str  # "ES256" or "RS256"
    created_at: datetime
    key_id: str | None  # the master key that wrapped the data key; None: a plain row
    private_pem: str | None = field(default=None, repr=False)  # a plain row's PEM
    ciphertext: bytes | None = field(default=None, repr=False)
    wrapped_key: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Resealed:
    """What replaces a row's key material: the PEM's ciphertext (unchanged when only the data
    key is wrapped again), the wrapped data key, and the master key that wrapped it."""

    old: PlatformKey
    ciphertext: bytes = field(repr=False)
    wrapped_key: bytes = field(repr=False)
    key_id: str


_COLUMNS = "kid, alg, created_at, key_id, private_pem, ciphertext, wrapped_key"


class PlatformKeys:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self, kid: str, alg: str, ciphertext: bytes, wrapped_key: bytes, key_id: str
    ) -> PlatformKey:
        """Store a new key, sealed (by ``interlink.vault.platform_keys.seal_private_key``)."""
        created_at = self._db.now()
        with self._db.transaction() as session:
            session.execute(
                "INSERT INTO platform_keys (kid, alg, created_at, key_id, ciphertext, "
                "wrapped_key) VALUES (?, ?, ?, ?, ?, ?)",
                (kid, alg, self._db.ts(created_at), key_id, ciphertext, wrapped_key),
            )
        return PlatformKey(kid, alg, created_at, key_id, None, ciphertext, wrapped_key)

    def list(self) -> list[PlatformKey]:
        """Every key, newest first."""
        with self._db.session() as session:
            rows = session.fetchall(
                f"SELECT {_COLUMNS} FROM platform_keys "  # noqa: S608
                "ORDER BY created_at DESC, kid"
            )
        return [self._key(row) for row in rows]

    def not_under(
        self, key_id: str | None, limit: int, skip: Sequence[str] = ()
    ) -> Sequence[PlatformKey]:
        """Up to ``limit`` keys plain or wrapped under another master key than ``key_id`` (only
        the plain ones when it is None), by kid, less the kids in ``skip`` (rows found
        unreadable earlier)."""
        where = "key_id IS NULL" if key_id is None else "key_id IS NULL OR key_id <> ?"
        params = [] if key_id is None else [key_id]
        with self._db.session() as session:
            rows = session.fetchall(
                f"SELECT {_COLUMNS} FROM platform_keys WHERE {where} "  # noqa: S608
                "ORDER BY kid LIMIT ?",
                (*params, limit + len(skip)),
            )
        skipped = set(skip)
        return [k for k in map(self._key, rows) if k.kid not in skipped][:limit]

    def reseal(self, rows: Sequence[Resealed]) -> int:
        """Replace each row's key material, in one transaction; a row changed since it was read
        (its key id moved) is left alone. How many rows changed."""
        changed = 0
        with self._db.transaction() as session:
            for row in rows:
                was = "key_id IS NULL" if row.old.key_id is None else "key_id = ?"
                changed += session.execute(
                    "UPDATE platform_keys SET private_pem = NULL, ciphertext = ?, "  # noqa: S608
                    f"wrapped_key = ?, key_id = ? WHERE kid = ? AND {was}",
                    (
                        row.ciphertext,
                        row.wrapped_key,
                        row.key_id,
                        row.old.kid,
                        *(() if row.old.key_id is None else (row.old.key_id,)),
                    ),
                )
        return changed

    def count_by_key(self) -> dict[str | None, int]:
        """How many keys each master key (by id) wrapped; None counts the plain ones."""
        with self._db.session() as session:
            rows = session.fetchall("SELECT key_id, COUNT(*) FROM platform_keys GROUP BY key_id")
        return {(None if r[0] is None else str(r[0])): int(r[1]) for r in rows}

    def delete(self, kid: str) -> None:
        with self._db.transaction() as session:
            session.execute("DELETE FROM platform_keys WHERE kid = ?", (kid,))

    def now(self) -> datetime:
        return self._db.now()

    def _key(self, row: Row) -> PlatformKey:
        return PlatformKey(
            kid=row[0],
            alg=row[1],
            created_at=self._db.dt(row[2]),
            key_id=row[3],
            private_pem=row[4],
            ciphertext=None if row[5] is None else bytes(row[5]),
            wrapped_key=None if row[6] is None else bytes(row[6]),
        )
