"""Consumers' API keys (partners, apps, internal systems), stored as SHA-256 digests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from interlink.errors import NotFound
from interlink.store.base import KEY_PREFIX, NewToken, check_token_name, draw_unique
from interlink.store.database import Database, Row


@dataclass(frozen=True)
class ConsumerKey:
    """A Consumer's API key as stored: its id, owner, lifetime and SHA-256 digest, never itself."""

    id: str
    consumer: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    digest: str = field(repr=False)

    def usable(self, now: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


class ConsumerKeys:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self, consumer: str, name: str, expires_at: datetime | None = None
    ) -> tuple[str, ConsumerKey]:
        """Create an API key for a Consumer; the plaintext is returned here and never again."""
        name = check_token_name(name)
        created_at = self._db.now()
        expires = None if expires_at is None else self._db.ts(expires_at)

        def insert(key: NewToken) -> bool:
            with self._db.transaction() as session:
                row = session.fetchone(
                    "INSERT INTO consumer_keys "
                    "(id, consumer, name, key_hash, created_at, expires_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
                    (key.id, consumer, name, key.digest, self._db.ts(created_at), expires),
                )
            return row is not None

        key = draw_unique(insert, KEY_PREFIX, "key")
        info = ConsumerKey(key.id, consumer, name, created_at, expires_at, False, key.digest)
        return key.plaintext, info

    def list(self, consumer: str | None = None) -> list[ConsumerKey]:
        """Keys (revoked and expired ones included), oldest first, of one consumer or all."""
        with self._db.session() as session:
            rows = session.fetchall(
                "SELECT id, consumer, name, created_at, expires_at, revoked_at, key_hash "
                "FROM consumer_keys WHERE CAST(? AS TEXT) IS NULL OR consumer = ? "
                "ORDER BY created_at, id",
                (consumer, consumer),
            )
        return [self._key(row) for row in rows]

    def revoke(self, id: str) -> None:
        """Revoke a key by id; raises ``NotFound``. Revoking twice keeps the first time."""
        with self._db.transaction() as session:
            changed = session.execute(
                "UPDATE consumer_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                (self._db.ts(self._db.now()), id),
            )
            if changed == 0:
                raise NotFound(f"key {id!r} not found")

    def version(self) -> int:
        """A number that moves whenever a consumer key is added, changed or removed, by any
        process: one row to read, so a key ring reloads the keys only when it moved."""
        with self._db.session() as session:
            row = session.fetchone("SELECT version FROM consumer_keys_version")
        return int(row[0]) if row is not None else 0

    def _key(self, row: Row) -> ConsumerKey:
        return ConsumerKey(
            id=row[0],
            consumer=row[1],
            name=row[2],
            created_at=self._db.dt(row[3]),
            expires_at=self._db.dt_or_none(row[4]),
            revoked=row[5] is not None,
            digest=row[6],
        )
