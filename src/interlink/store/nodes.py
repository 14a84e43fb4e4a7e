"""The `interlink serve` nodes sharing this store: each one's addresses, the revision it runs,
the health of its parts, and its heartbeat.

A node writes its row every few seconds; a row whose heartbeat is older than a few intervals is
a node that is down, and one far older is pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from interlink.store.base import dump_json
from interlink.store.database import Database

_SELECT: Final = (
    "SELECT id, admin_address, gateway_address, revision_id, revision_hash, started_at, "
    "heartbeat_at, health FROM nodes"
)


@dataclass(frozen=True)
class Node:
    id: str
    admin_address: str
    gateway_address: str
    revision_id: int | None
    revision_hash: str | None
    started_at: datetime
    heartbeat_at: datetime
    health: dict[str, str]  # part ("store", "bus", "gateway") → "ok" or what is wrong

    def live(self, now: datetime, within: timedelta) -> bool:
        """Whether the node said it was up within ``within`` of ``now``."""
        return now - self.heartbeat_at <= within


class Nodes:
    def __init__(self, db: Database) -> None:
        self._db = db

    def beat(
        self,
        id: str,
        *,
        admin_address: str,
        gateway_address: str,
        revision: tuple[int, str] | None,
        started_at: datetime,
        health: Mapping[str, str],
    ) -> None:
        """Write the node's row as of now: what it runs and how its parts are."""
        rev_id, rev_hash = revision if revision is not None else (None, None)
        ts = self._db.ts
        with self._db.transaction() as session:
            session.execute(
                "INSERT INTO nodes (id, admin_address, gateway_address, revision_id, "
                "revision_hash, started_at, heartbeat_at, health) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET admin_address = excluded.admin_address, "
                "gateway_address = excluded.gateway_address, revision_id = excluded.revision_id, "
                "revision_hash = excluded.revision_hash, heartbeat_at = excluded.heartbeat_at, "
                "health = excluded.health",
                (
                    id,
                    admin_address,
                    gateway_address,
                    rev_id,
                    rev_hash,
                    ts(started_at),
                    ts(self._db.now()),
                    dump_json(dict(health)),
                ),
            )

    def list(self) -> list[Node]:
        """Every node with a row, by id."""
        with self._db.session() as session:
            rows = session.fetchall(_SELECT + " ORDER BY id")
        return [
            Node(
                id=r[0],
                admin_address=r[1],
                gateway_address=r[2],
                revision_id=None if r[3] is None else int(r[3]),
                revision_hash=r[4],
                started_at=self._db.dt(r[5]),
                heartbeat_at=self._db.dt(r[6]),
                health={str(k): str(v) for k, v in self._db.json(r[7]).items()},
            )
            for r in rows
        ]

    def prune(self, older_than: timedelta) -> int:
        """Delete the rows of nodes silent for longer than ``older_than``; how many."""
        cutoff = self._db.ts(self._db.now() - older_than)
        with self._db.transaction() as session:
            return session.execute("DELETE FROM nodes WHERE heartbeat_at < ?", (cutoff,))
