"""The platform's signing keys for the OAuth2 access tokens the gateway issues.

The newest key signs; an older one stays, published at the gateway's JWKS, until every token it
signed has expired, then the rotation deletes it. The private key is kept as PKCS#8 PEM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from interlink.store.database import Database, Row


@dataclass(frozen=True)
class PlatformKey:
    kid: str
    alg: str  # "ES256" or "RS256"
    created_at: datetime
    private_pem: str = field(repr=False)


class PlatformKeys:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, kid: str, alg: str, private_pem: str) -> PlatformKey:
        created_at = self._db.now()
        with self._db.transaction() as session:
            session.execute(
                "INSERT INTO platform_keys (kid, alg, private_pem, created_at) VALUES (?, ?, ?, ?)",
                (kid, alg, private_pem, self._db.ts(created_at)),
            )
        return PlatformKey(kid, alg, created_at, private_pem)

    def list(self) -> list[PlatformKey]:
        """Every key, newest first."""
        with self._db.session() as session:
            rows = session.fetchall(
                "SELECT kid, alg, created_at, private_pem FROM platform_keys "
                "ORDER BY created_at DESC, kid"
            )
        return [self._key(row) for row in rows]

    def delete(self, kid: str) -> None:
        with self._db.transaction() as session:
            session.execute("DELETE FROM platform_keys WHERE kid = ?", (kid,))

    def now(self) -> datetime:
        return self._db.now()

    def _key(self, row: Row) -> PlatformKey:
        return PlatformKey(row[0], row[1], self._db.dt(row[2]), row[3])
