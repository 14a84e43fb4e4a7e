"""Record-level lineage: the hops of each data subject's data, kept until their retention.

A hop is one move of one subject's data: ``published`` by a System or Consumer, ``delivered``
to a Subscription's target, ``transformed`` by a Flow's step, ``written`` to a System's table,
queue or path, ``served`` by a data product; and ``read``, a reader's read of a data
product's PII columns, kept under the subject type ``DataProduct`` and the product's name.
Hops are written in batches (the recorder buffers them), one row per subject and write
(lineage_rows.py), and read back by subject, in time order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Final, Literal, NamedTuple, cast

from interlink.store.database import Database
from interlink.store.lineage_rows import Held, hops_in, rows_of, subject_of

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

_INSERT: Final = "INSERT INTO lineage_trails (subject, at, hops)"
_SELECT: Final = "SELECT hops FROM lineage_trails WHERE subject = ?"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_subject: Final = itemgetter(0)


def micros(at: datetime) -> int:
    """``at`` as the store keeps it: microseconds since the epoch."""
    return (at - _EPOCH) // _MICROSECOND


def moment(stored: int) -> datetime:
    """A stored time (microseconds since the epoch) as a UTC datetime."""
    return _EPOCH + timedelta(microseconds=stored)


class Hop(NamedTuple):
    """One move of a subject's data from ``actor`` to ``target`` (``System/crm``,
    ``Subscription/to-billing``, ``Flow/sync``…); ``detail`` says what more is known (the
    step, the table); the event and run it came with, "" when none. What a trace returns; the
    recorder holds a plainer tuple (:data:`~interlink.store.lineage_rows.Held`)."""

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


def held(hop: Hop) -> Held:
    """``hop`` as the recorder holds it."""
    return (hop[0], hop[1], micros(hop[2]), *hop[3:])


class LineageHops:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, hops: Sequence[Hop]) -> None:
        """Store ``hops`` in one transaction."""
        self.write([held(hop) for hop in hops])

    def write(self, held: list[Held]) -> None:
        """Store hops as the recorder holds them, in one transaction."""
        if not held:
            return
        # In subject order (stable: a subject's rows keep theirs): the index takes them in one
        # pass over its pages. Subjects in the order they came (at random) touched its pages
        # back and forth, and once they outgrew SQLite's page cache, wrote some more than
        # once: about 40 % more bytes to the log for a write of 2,000 random subjects.
        rows = sorted(rows_of(held), key=_subject)
        with self._db.transaction() as session:
            session.insert_rows(_INSERT, rows)

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
        params: list[object] = [subject_of(subject_type, subject_key)]
        start = micros(since) if since is not None else None
        if start is not None:
            query += " AND at >= ?"  # rows whose newest hop is, some older ones are dropped
            params.append(start)
        # Each row holds at least one hop: the newest ``limit`` hops are in the newest ``limit``
        # rows, those written last (the index orders a subject's rows by id, not time, which
        # makes each write cheaper).
        query += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with self._db.session() as session:
            rows = session.fetchall(query, tuple(params))
        found: list[tuple[int, list[str]]] = []
        for (text,) in reversed(rows):
            found += hops_in(text)
        if start is not None:
            found = [hop for hop in found if hop[0] >= start]
        found.sort(key=lambda hop: hop[0])  # stable: hops of one time keep their order
        return [
            Hop(subject_type, subject_key, moment(at), cast(HopKind, f[0]), *f[1:])
            for at, f in found[-limit:]
        ]

    def purge(self, before: datetime, batch: int = 5000) -> int:
        """Delete up to ``batch`` rows whose newest hop was recorded before ``before``; how
        many went. The ids grow with time, so walking them from the oldest finds what is due
        first, without an index on ``at`` that every write would pay for."""
        with self._db.transaction() as session:
            return session.execute(
                "DELETE FROM lineage_trails WHERE id IN "
                "(SELECT id FROM lineage_trails WHERE at < ? ORDER BY id LIMIT ?)",
                (micros(before), batch),
            )
