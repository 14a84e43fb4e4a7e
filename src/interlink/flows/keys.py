"""The keys of ``idempotency`` steps (``flow_keys``): which run of a flow holds a key, until
when.

The first run to reach the step with a key holds it for the step's ``window``; another run
of the same flow with that key before it expires is a duplicate. A run resumed after a crash
finds the key held by itself and goes on. A key is held for its window whatever the run's end,
so a failed run's key is not taken again before it expires (the duplicate would redo what the
failed run did before failing, which is what the key exists to prevent).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from interlink.store.database import Database

_CLAIM: Final = (
    "INSERT INTO flow_keys (flow, key, run_id, expires_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (flow, key) DO UPDATE SET run_id = excluded.run_id, "
    "expires_at = excluded.expires_at WHERE flow_keys.expires_at <= ?"
)
_HOLDER: Final = "SELECT run_id FROM flow_keys WHERE flow = ? AND key = ?"


class FlowKeys:
    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(self, flow: str, key: str, run_id: str, window: float) -> str:
        """Hold ``key`` for ``run_id`` unless another run holds it unexpired; the holder."""
        now = self._db.now()
        ts = self._db.ts
        with self._db.transaction() as session:
            session.execute(
                _CLAIM, (flow, key, run_id, ts(now + timedelta(seconds=window)), ts(now))
            )
            row = session.fetchone(_HOLDER, (flow, key))
        assert row is not None
        return str(row[0])

    def purge(self) -> int:
        """Forget expired keys; how many."""
        now = self._db.ts(self._db.now())
        with self._db.transaction() as session:
            return session.execute("DELETE FROM flow_keys WHERE expires_at <= ?", (now,))
