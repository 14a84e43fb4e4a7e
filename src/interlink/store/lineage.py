"""Record-level lineage: the hops of each data subject's data, kept until their retention.

A hop is one move of one subject's data: ``published`` by a System or Consumer, ``delivered``
to a Subscription's target, ``transformed`` by a Flow's step, ``written`` to a System's table,
queue or path, ``served`` by a data product; and ``read``, a reader's read of a data
product's PII columns, kept under the subject type ``DataProduct`` and the product's name.
Hops are written in batches (the recorder buffers them) and read back by subject, in time
order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, NamedTuple

from interlink.store.database import Database

HopKind = Literal["published", "delivered", "transformed", "written", "served", "read"]
#: The kinds in the order a subject's data meets them.
HOP_KINDS: Final[tuple[HopKind, ...]] = (
    "published",
    "delivered",
    "transformed",
    "written",
    "served",
    "read",
)

_INSERT: Final = (
    "INSERT INTO lineage_hops (subject_type, subject_key, at, kind, actor, target, detail, "
    "event_type, event_id, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT: Final = (
    "SELECT subject_type, subject_key, at, kind, actor, target, detail, event_type, event_id, "
    "run_id FROM lineage_hops WHERE subject_type = ? AND subject_key = ?"
)


class Hop(NamedTuple):
    """One move of a subject's data from ``actor`` to ``target`` (``System/crm``,
    ``Subscription/to-billing``, ``Flow/sync``…); ``detail`` says what more is known (the
    step, the table); the event and run it came with, "" when none. A named tuple: the
    recorder makes one per hop on the data path, and a tuple is the cheapest to make."""

    subject_type: str
    subject_key: str
    at: datetime
    kind: HopKind
    actor: str
    target: str
    detail: str = ""
    event_type: str = ""
    event_id: str = ""
    run_id: str = ""


class LineageHops:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, hops: list[Hop]) -> None:
        """Store ``hops`` in one transaction."""
        if not hops:
            return
        ts = self._db.ts
        with self._db.transaction() as session:
            session.executemany(
                _INSERT,
                [(h[0], h[1], ts(h[2]), *h[3:]) for h in hops],
            )

    def trace(
        self,
        subject_type: str,
        subject_key: str,
        since: datetime | None = None,
        limit: int = 10_000,
    ) -> list[Hop]:
        """The subject's hops at or after ``since`` (all without it), oldest first, at most
        ``limit`` (the newest of them)."""
        query = _SELECT
        params: list[object] = [subject_type, subject_key]
        if since is not None:
            query += " AND at >= ?"
            params.append(self._db.ts(since))
        query += " ORDER BY at DESC, id DESC LIMIT ?"
        params.append(limit)
        with self._db.session() as session:
            rows = session.fetchall(query, tuple(params))
        return [
            Hop(r[0], r[1], self._db.dt(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9])
            for r in reversed(rows)
        ]

    def purge(self, before: datetime, batch: int = 5000) -> int:
        """Delete up to ``batch`` hops recorded before ``before``; how many went. The ids
        grow with time, so walking them from the oldest finds what is due first, without an
        index on ``at`` that every recorded hop would pay for."""
        with self._db.transaction() as session:
            return session.execute(
                "DELETE FROM lineage_hops WHERE id IN "
                "(SELECT id FROM lineage_hops WHERE at < ? ORDER BY id LIMIT ?)",
                (self._db.ts(before), batch),
            )
