"""One-time sign-in links of the console: a random code that stands for an admin token (by its
id) until it is used once or expires, exchanged for a session by ``/console/sign-in/link``.

Only the SHA-256 of the code is stored, like a session id's. Using a code deletes its row in
one statement, so when several nodes share the store and a link is opened twice at once,
exactly one of them finds the row and signs in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Final

from interlink.errors import AuthError
from interlink.store.database import Database

#: How long a link may wait before it is used.
LINK_LIFETIME: Final = timedelta(minutes=10)
_CODE_BYTES: Final = 32


class LinkRefused(AuthError):
    """The code is unknown, already used, or expired."""


def code_digest(code: str) -> str:
    # 256 random bits need no slow hash.
    return hashlib.sha256(code.encode()).hexdigest()


class ConsoleLinks:
    def __init__(self, db: Database) -> None:
        self._db = db

    def mint(self, token_id: str, lifetime: timedelta = LINK_LIFETIME) -> str:
        """A new code for ``token_id``, usable once within ``lifetime``; returned, never stored."""
        code = secrets.token_urlsafe(_CODE_BYTES)
        now = self._db.now()
        with self._db.transaction() as session:
            # Links nobody used are removed here, not by a background job.
            session.execute("DELETE FROM console_links WHERE expires_at <= ?", (self._db.ts(now),))
            session.execute(
                "INSERT INTO console_links (code_hash, token_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (code_digest(code), token_id, self._db.ts(now), self._db.ts(now + lifetime)),
            )
        return code

    def consume(self, code: str) -> str:
        """The token id ``code`` stands for, the code used up; LinkRefused when it is unknown,
        used or expired."""
        with self._db.session() as session:
            row = session.fetchone(
                "DELETE FROM console_links WHERE code_hash = ? RETURNING token_id, expires_at",
                (code_digest(code),),
            )
        if row is None:
            raise LinkRefused("this sign-in link is unknown or was used already")
        if self._db.now() >= self._db.dt(row[1]):
            raise LinkRefused("this sign-in link has expired")
        return str(row[0])
