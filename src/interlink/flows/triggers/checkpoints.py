"""Polling triggers' checkpoints in the store (``flow_trigger_checkpoints``).

A checkpoint is the cursor after the last batch whose runs are all recorded. A write is fenced
twice: by the trigger's lease (the ``leases`` row must still be this holder's under this token,
so once another node took the lease over this one cannot write), and by the token stored with
the checkpoint (a write under an older token than the stored one is refused, so a node that lost
the lease can never move the cursor back over its successor's). Without a lease (one process on
SQLite) the token is 0 and only the second fence applies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from interlink.errors import LeaseLost
from interlink.flows.runs import dump
from interlink.store.database import Database

# Whole literals, as in the other repositories. One statement: the row is written only while
# the fence holds (SQLite needs the SELECT's WHERE to read the upsert; its writers take turns).
_FENCED: Final = (
    "INSERT INTO flow_trigger_checkpoints (trigger_id, cursor, token, holder, recorded, "
    "updated_at) SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM leases "
    "WHERE name = ? AND owner = ? AND token = ?) "
    "ON CONFLICT (trigger_id) DO UPDATE SET cursor = excluded.cursor, token = excluded.token, "
    "holder = excluded.holder, recorded = flow_trigger_checkpoints.recorded + excluded.recorded, "
    "updated_at = excluded.updated_at WHERE flow_trigger_checkpoints.token <= excluded.token"
)
# PostgreSQL: the lease row is locked for share until the write commits, so a node taking the
# lease meanwhile waits for it (and then reads it), or took it first and the write is refused.
_FENCED_POSTGRES: Final = (
    "INSERT INTO flow_trigger_checkpoints (trigger_id, cursor, token, holder, recorded, "
    "updated_at) SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM leases "
    "WHERE name = ? AND owner = ? AND token = ? FOR SHARE) "
    "ON CONFLICT (trigger_id) DO UPDATE SET cursor = excluded.cursor, token = excluded.token, "
    "holder = excluded.holder, recorded = flow_trigger_checkpoints.recorded + excluded.recorded, "
    "updated_at = excluded.updated_at WHERE flow_trigger_checkpoints.token <= excluded.token"
)
_UNFENCED: Final = (
    "INSERT INTO flow_trigger_checkpoints (trigger_id, cursor, token, holder, recorded, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (trigger_id) DO UPDATE SET cursor = excluded.cursor, token = excluded.token, "
    "holder = excluded.holder, recorded = flow_trigger_checkpoints.recorded + excluded.recorded, "
    "updated_at = excluded.updated_at WHERE flow_trigger_checkpoints.token <= excluded.token"
)


@dataclass(frozen=True)
class Fence:
    """The lease a checkpoint is written under."""

    lease: str
    owner: str
    token: int

    @property
    def columns(self) -> tuple[str, str, int]:
        return (self.lease, self.owner, self.token)


@dataclass(frozen=True)
class Checkpoint:
    trigger_id: str
    cursor: Any  # JSON
    token: int
    holder: str
    recorded: int
    updated_at: datetime


class TriggerCheckpoints:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, trigger_id: str) -> Checkpoint | None:
        with self._db.session() as session:
            row = session.fetchone(
                "SELECT trigger_id, cursor, token, holder, recorded, updated_at "
                "FROM flow_trigger_checkpoints WHERE trigger_id = ?",
                (trigger_id,),
            )
        if row is None:
            return None
        return Checkpoint(
            trigger_id=str(row[0]),
            cursor=None if row[1] is None else json.loads(row[1]),
            token=int(row[2]),
            holder=str(row[3]),
            recorded=int(row[4]),
            updated_at=self._db.dt(row[5]),
        )

    def save(
        self, trigger_id: str, cursor: Any, recorded: int, fence: Fence | None, holder: str
    ) -> None:
        """Store ``cursor`` after ``recorded`` more items; ``LeaseLost`` when the fence does
        not hold (another node holds the trigger now, or wrote under a later token)."""
        text = dump(cursor)
        now = self._db.ts(self._db.now())
        with self._db.transaction() as session:
            if fence is None:
                changed = session.execute(_UNFENCED, (trigger_id, text, 0, holder, recorded, now))
            else:
                fenced = _FENCED_POSTGRES if self._db.dialect == "postgres" else _FENCED
                changed = session.execute(
                    fenced,
                    (trigger_id, text, fence.token, fence.owner, recorded, now, *fence.columns),
                )
        if changed == 0:
            who = holder if fence is None else f"{fence.owner} under token {fence.token}"
            raise LeaseLost(
                f"the checkpoint of trigger {trigger_id} was not written by {who}: "
                "another node holds the trigger now"
            )

    def forget(self, trigger_id: str) -> None:
        """Drop a checkpoint: the trigger polls from its source's configured start again."""
        with self._db.transaction() as session:
            session.execute(
                "DELETE FROM flow_trigger_checkpoints WHERE trigger_id = ?", (trigger_id,)
            )
