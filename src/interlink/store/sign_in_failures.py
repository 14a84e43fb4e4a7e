"""Failed console sign-ins per client address, counted in fixed windows of a minute.

The counts are in the store, so a client guessing tokens is refused by every node behind a load
balancer alike. A failure is one upsert that returns the new count: nodes counting at once
never lose one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from interlink.store.database import Database

WINDOW: Final = timedelta(minutes=1)
#: Windows older than this are deleted as failures are counted.
_KEEP: Final = timedelta(hours=1)


class SignInFailures:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _window(self) -> tuple[datetime, datetime]:
        """The current window's start, and now."""
        now = self._db.now()
        step = int(WINDOW.total_seconds())
        start = datetime.fromtimestamp(int(now.timestamp()) // step * step, now.tzinfo)
        return start, now

    def retry_after(self, client: str, limit: int) -> int | None:
        """Seconds until ``client`` may try again when it failed ``limit`` times in this
        window; None while it may try."""
        start, now = self._window()
        with self._db.session() as session:
            row = session.fetchone(
                "SELECT failures FROM console_sign_in_failures WHERE client = ? "
                "AND window_start = ?",
                (client, self._db.ts(start)),
            )
        if row is None or int(row[0]) < limit:
            return None
        return max(1, int((start + WINDOW - now).total_seconds() + 0.999))

    def record(self, client: str) -> int:
        """Count one failure of ``client``; the window's count so far."""
        start, now = self._window()
        with self._db.transaction() as session:
            session.execute(
                "DELETE FROM console_sign_in_failures WHERE window_start < ?",
                (self._db.ts(now - _KEEP),),
            )
            row = session.fetchone(
                "INSERT INTO console_sign_in_failures (client, window_start, failures) "
                "VALUES (?, ?, 1) ON CONFLICT (client, window_start) "
                "DO UPDATE SET failures = console_sign_in_failures.failures + 1 "
                "RETURNING failures",
                (client, self._db.ts(start)),
            )
        assert row is not None  # an upsert with RETURNING always returns its row
        return int(row[0])
