"""Signed-in sessions of the console: a random session id in a browser cookie stands for an
admin token (by its id) until it is idle too long, reaches its end, or is signed out.

Only the SHA-256 of the session id is stored: a copy of the table signs nobody in. The row is
in the store, so every node behind a load balancer serves every session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from interlink.errors import AuthError
from interlink.store.database import Database

#: How often a session's idle deadline is pushed forward: a write per minute, not per page.
SESSION_TOUCH_INTERVAL: Final = timedelta(minutes=1)
_SESSION_BYTES: Final = 32


class SessionExpired(AuthError):
    """The session is unknown, idle too long, or past its end: sign in again."""


@dataclass(frozen=True)
class ConsoleSession:
    token_id: str
    idle_until: datetime
    ends_at: datetime


def session_digest(session_id: str) -> str:
    # As for tokens: 256 random bits need no slow hash.
    return hashlib.sha256(session_id.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, db: Database) -> None:
        self._db = db

    def open(self, token_id: str, idle: timedelta, lifetime: timedelta) -> str:
        """A new session for ``token_id``; its id is returned here and never stored."""
        session_id = secrets.token_urlsafe(_SESSION_BYTES)
        now = self._db.now()
        ends_at = now + lifetime
        with self._db.transaction() as session:
            # Sessions nobody signed out of are removed here, not by a background job.
            session.execute(
                "DELETE FROM console_sessions WHERE idle_until <= ? OR ends_at <= ?",
                (self._db.ts(now), self._db.ts(now)),
            )
            session.execute(
                "INSERT INTO console_sessions (id_hash, token_id, created_at, idle_until, ends_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    session_digest(session_id),
                    token_id,
                    self._db.ts(now),
                    self._db.ts(min(now + idle, ends_at)),
                    self._db.ts(ends_at),
                ),
            )
        return session_id

    def resume(self, session_id: str, idle: timedelta) -> ConsoleSession:
        """The live session ``session_id`` names, its idle deadline pushed forward;
        SessionExpired when there is none."""
        digest = session_digest(session_id)
        now = self._db.now()
        with self._db.session() as session:
            row = session.fetchone(
                "SELECT token_id, idle_until, ends_at FROM console_sessions WHERE id_hash = ?",
                (digest,),
            )
            if row is None:
                raise SessionExpired("your console session has ended: sign in again")
            found = ConsoleSession(row[0], self._db.dt(row[1]), self._db.dt(row[2]))
            if now >= found.idle_until or now >= found.ends_at:
                session.execute("DELETE FROM console_sessions WHERE id_hash = ?", (digest,))
                raise SessionExpired("your console session expired: sign in again")
            pushed = min(now + idle, found.ends_at)
            if pushed - found.idle_until < SESSION_TOUCH_INTERVAL:
                return found
            session.execute(
                "UPDATE console_sessions SET idle_until = ? WHERE id_hash = ?",
                (self._db.ts(pushed), digest),
            )
        return ConsoleSession(found.token_id, pushed, found.ends_at)

    def close(self, session_id: str) -> None:
        """Sign out: the session is gone on every node."""
        with self._db.transaction() as session:
            session.execute(
                "DELETE FROM console_sessions WHERE id_hash = ?", (session_digest(session_id),)
            )
