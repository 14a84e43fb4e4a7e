"""The ids of the client assertions Consumers authenticated with at the token endpoint.

An assertion (RFC 7523) is good for one token request: its ``jti`` is kept until its ``exp``,
and one already kept is refused, whichever node of the cluster it reaches. Expired ids are
deleted as new ones arrive, at most once a minute per process.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from interlink.store.database import Database

PURGE_EVERY = 60.0  # seconds between two deletions of expired ids


class ClientAssertions:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._purged = -PURGE_EVERY

    def remember(self, consumer: str, jti: str, expires_at: datetime) -> bool:
        """Keep ``jti`` of ``consumer`` until ``expires_at``; False when it is kept already (a
        replay), unless it had expired."""
        now = self._db.now()
        self._purge(now)
        with self._db.transaction() as session:
            session.execute(
                "DELETE FROM client_assertions WHERE consumer = ? AND jti = ? AND expires_at < ?",
                (consumer, jti, self._db.ts(now)),
            )
            added = session.execute(
                "INSERT INTO client_assertions (consumer, jti, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (consumer, jti) DO NOTHING",
                (consumer, jti, self._db.ts(expires_at)),
            )
        return added == 1

    def count(self) -> int:
        with self._db.session() as session:
            row = session.fetchone("SELECT COUNT(*) FROM client_assertions")
        return int(row[0]) if row is not None else 0

    def _purge(self, now: datetime) -> None:
        with self._lock:
            if time.monotonic() - self._purged < PURGE_EVERY:
                return
            self._purged = time.monotonic()
        with self._db.transaction() as session:
            session.execute(
                "DELETE FROM client_assertions WHERE expires_at < ?", (self._db.ts(now),)
            )
