"""The delivery queue's statements, written once for both databases.

Queries use ``?`` placeholders and portable SQL; a dialect (``queue_sqlite.py``,
``queue_postgres.py``) runs them, converts times, and does the batched writes its own way:
SQLite runs a batch as ``executemany`` in one transaction on its single writer, PostgreSQL
sends the batch as arrays unpacked with ``unnest`` in one round trip.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from interlink.errors import LeaseLost, NotFound
from interlink.events.delivery.queue import (
    Delivery,
    DeliveryQueue,
    Disabled,
    Fence,
    Job,
    JobKey,
    Page,
    ReplayRecord,
    keys_of,
)
from interlink.store.base import check_page, redact_url

Row = tuple[Any, ...]

# Queries are whole literals (no string building), so what runs is what is read here.
_DUE: Final = (
    "SELECT seq, replay, event_id, key, body, attempt, published_at FROM deliveries "
    "WHERE subscription = ? AND state = 'pending' AND next_at <= ? "
    "ORDER BY next_at, seq, replay LIMIT ?"
)
# Ordered subscriptions: only the head of its key, the key's first pending row. Asked as
# "is it the first" (one step into the key index) rather than "is none before it", which the
# planners answered by scanning the key's rows.
_DUE_ORDERED: Final = (
    "SELECT seq, replay, event_id, key, body, attempt, published_at FROM deliveries d "
    "WHERE d.subscription = ? AND d.state = 'pending' AND d.next_at <= ? "
    "AND (d.key IS NULL OR (d.seq, d.replay) = (SELECT e.seq, e.replay FROM deliveries e "
    "WHERE e.subscription = d.subscription AND e.state = 'pending' AND e.key = d.key "
    "ORDER BY e.seq, e.replay LIMIT 1)) "
    "ORDER BY d.next_at, d.seq, d.replay LIMIT ?"
)
# The pending rows in dispatch order, due or not: ``take`` reads jobs and the next due time
# in one statement.
_PENDING: Final = (
    "SELECT seq, replay, event_id, key, body, attempt, published_at, next_at FROM deliveries "
    "WHERE subscription = ? AND state = 'pending' ORDER BY next_at, seq, replay LIMIT ?"
)
_PENDING_ORDERED: Final = (
    "SELECT seq, replay, event_id, key, body, attempt, published_at, next_at FROM deliveries d "
    "WHERE d.subscription = ? AND d.state = 'pending' "
    "AND (d.key IS NULL OR (d.seq, d.replay) = (SELECT e.seq, e.replay FROM deliveries e "
    "WHERE e.subscription = d.subscription AND e.state = 'pending' AND e.key = d.key "
    "ORDER BY e.seq, e.replay LIMIT 1)) "
    "ORDER BY d.next_at, d.seq, d.replay LIMIT ?"
)
_NEXT: Final = (
    "SELECT seq, replay, next_at FROM deliveries "
    "WHERE subscription = ? AND state = 'pending' ORDER BY next_at, seq, replay LIMIT ?"
)
_NEXT_ORDERED: Final = (
    "SELECT seq, replay, next_at FROM deliveries d "
    "WHERE d.subscription = ? AND d.state = 'pending' "
    "AND (d.key IS NULL OR (d.seq, d.replay) = (SELECT e.seq, e.replay FROM deliveries e "
    "WHERE e.subscription = d.subscription AND e.state = 'pending' AND e.key = d.key "
    "ORDER BY e.seq, e.replay LIMIT 1)) "
    "ORDER BY d.next_at, d.seq, d.replay LIMIT ?"
)
_LIST_DEAD: Final = (
    "SELECT subscription, seq, replay, event_id, key, body, state, attempt, next_at, "
    "published_at, created_at, updated_at, last_status, last_error, last_response "
    "FROM deliveries WHERE state = 'dead' "
    "AND (CAST(? AS TEXT) IS NULL OR subscription = ?) "
    "AND (CAST(? AS TEXT) IS NULL OR (subscription, seq, replay) > (?, ?, ?)) "
    "ORDER BY subscription, seq, replay LIMIT ?"
)
_GET: Final = (
    "SELECT subscription, seq, replay, event_id, key, body, state, attempt, next_at, "
    "published_at, created_at, updated_at, last_status, last_error, last_response "
    "FROM deliveries WHERE subscription = ? AND seq = ? AND replay = ? AND state <> 'done'"
)
# Tombstones past their retention, a bounded batch at a time so one sweep holds no long lock.
_SWEEP: Final = (
    "DELETE FROM deliveries WHERE (subscription, seq, replay) IN ("
    "SELECT subscription, seq, replay FROM deliveries "
    "WHERE subscription = ? AND state = 'done' AND updated_at < ? LIMIT ?)"
)
# A fenced write's condition: the lease is still this owner's under this token. The token
# moves on whenever the lease is taken afresh, so no clock is involved.
FENCE: Final = "SELECT 1 FROM leases WHERE name = ? AND owner = ? AND token = ?"


class SQLDeliveryQueue(DeliveryQueue):
    """What both databases do alike; the dialect supplies the connection and the batches."""

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return redact_url(self._url)

    # --- what differs by dialect ---------------------------------------------------------------

    @abstractmethod
    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of one statement (``?`` placeholders)."""

    @abstractmethod
    async def _execute(self, query: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement in a transaction of its own; the rows it changed."""

    @abstractmethod
    def _ts(self, value: datetime) -> Any:
        """A time as the database stores it."""

    @abstractmethod
    def _dt(self, value: Any) -> datetime:
        """A stored time as a UTC-aware datetime."""

    def _text(self, value: str | None) -> str | None:
        """Text as the database can hold it."""
        return value

    # --- the hot path ------------------------------------------------------------------------

    async def due(
        self,
        subscription: str,
        now: datetime,
        limit: int,
        exclude: Sequence[JobKey] = (),
        *,
        ordered: bool = False,
    ) -> list[Job]:
        if limit < 1:
            return []
        # Rows in flight are skipped here rather than in SQL: there are at most maxInFlight
        # of them, and a head in flight is still its key's first pending row: the key stays held.
        rows = await self._fetch(
            _DUE_ORDERED if ordered else _DUE,
            (subscription, self._ts(now), limit + len(exclude)),
        )
        skip = set(exclude)
        jobs: list[Job] = []
        for seq, replay, event_id, key, body, attempt, published_at in rows:
            job_key = JobKey(subscription, seq, replay)
            if job_key in skip:
                continue
            jobs.append(Job(job_key, event_id, key, bytes(body), attempt, self._dt(published_at)))
            if len(jobs) == limit:
                break
        return jobs

    async def take(
        self,
        subscription: str,
        now: datetime,
        limit: int,
        exclude: Sequence[JobKey] = (),
        *,
        ordered: bool = False,
    ) -> tuple[list[Job], datetime | None]:
        if limit < 1:
            return [], None
        # One row past what can be skipped and taken: it is the next due, or there is none.
        rows = await self._fetch(
            _PENDING_ORDERED if ordered else _PENDING,
            (subscription, limit + len(exclude) + 1),
        )
        skip = set(exclude)
        jobs: list[Job] = []
        for seq, replay, event_id, key, body, attempt, published_at, next_at in rows:
            job_key = JobKey(subscription, seq, replay)
            if job_key in skip:
                continue
            due_at = self._dt(next_at)
            if due_at > now:
                return jobs, due_at
            jobs.append(Job(job_key, event_id, key, bytes(body), attempt, self._dt(published_at)))
            if len(jobs) == limit:
                break
        return jobs, None

    async def next_due(
        self, subscription: str, exclude: Sequence[JobKey] = (), *, ordered: bool = False
    ) -> datetime | None:
        rows = await self._fetch(
            _NEXT_ORDERED if ordered else _NEXT, (subscription, len(exclude) + 1)
        )
        skip = set(exclude)
        for seq, replay, next_at in rows:
            if JobKey(subscription, seq, replay) not in skip:
                return self._dt(next_at)
        return None

    # --- dead letters ------------------------------------------------------------------------

    async def list_dead(
        self, subscription: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page:
        check_page(limit)
        after = JobKey.parse(cursor).columns if cursor is not None else (None, None, None)
        rows = await self._fetch(
            _LIST_DEAD, (subscription, subscription, after[0], *after, limit + 1)
        )
        items = [self._delivery(row) for row in rows[:limit]]
        return Page(items, str(items[-1].key) if len(rows) > limit else None)

    async def get(self, id: str | JobKey) -> Delivery:
        key = keys_of([id])[0]
        rows = await self._fetch(_GET, key.columns)
        if not rows:
            raise NotFound(f"delivery {key} not found")
        return self._delivery(rows[0])

    async def retry_all(self, subscription: str, now: datetime) -> int:
        at = self._ts(now)
        return await self._execute(
            "UPDATE deliveries SET state = 'pending', attempt = 0, next_at = ?, "
            "updated_at = ? WHERE subscription = ? AND state = 'dead'",
            (at, at, subscription),
        )

    async def sweep(self, subscription: str, before: datetime, limit: int) -> int:
        if limit < 1:
            return 0
        return await self._execute(_SWEEP, (subscription, self._ts(before), limit))

    async def advance(self, subscription: str, type: str, seq: int, now: datetime) -> None:
        await self._execute(
            "INSERT INTO delivery_positions (subscription, type, seq, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (subscription) DO UPDATE SET "
            "seq = CASE WHEN delivery_positions.type = excluded.type "
            "AND delivery_positions.seq > excluded.seq "
            "THEN delivery_positions.seq ELSE excluded.seq END, "
            "type = excluded.type, updated_at = excluded.updated_at",
            (subscription, type, seq, self._ts(now)),
        )

    async def position(self, subscription: str, type: str) -> int | None:
        rows = await self._fetch(
            "SELECT seq FROM delivery_positions WHERE subscription = ? AND type = ?",
            (subscription, type),
        )
        return int(rows[0][0]) if rows else None

    async def depth(self, subscription: str) -> int:
        return await self._count(subscription, "pending")

    async def dlq_depth(self, subscription: str) -> int:
        return await self._count(subscription, "dead")

    async def _count(self, subscription: str, state: str) -> int:
        rows = await self._fetch(
            "SELECT count(*) FROM deliveries WHERE subscription = ? AND state = ?",
            (subscription, state),
        )
        return int(rows[0][0])

    # --- subscription state and replays --------------------------------------------------------

    async def disable(self, subscription: str, reason: str, now: datetime) -> None:
        # Disabling twice keeps the first time and reason: that is when it broke.
        await self._execute(
            "INSERT INTO subscription_state (name, disabled_at, disabled_reason) "
            "VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET disabled_reason = "
            "COALESCE(subscription_state.disabled_reason, excluded.disabled_reason), "
            "disabled_at = COALESCE(subscription_state.disabled_at, excluded.disabled_at)",
            (subscription, self._ts(now), self._text(reason)),
        )

    async def enable(self, subscription: str) -> bool:
        changed = await self._execute(
            "UPDATE subscription_state SET disabled_at = NULL, disabled_reason = NULL "
            "WHERE name = ? AND disabled_at IS NOT NULL",
            (subscription,),
        )
        return changed > 0

    async def disabled(self) -> dict[str, Disabled]:
        rows = await self._fetch(
            "SELECT name, disabled_at, disabled_reason FROM subscription_state "
            "WHERE disabled_at IS NOT NULL ORDER BY name"
        )
        return {name: Disabled(name, self._dt(at), reason or "") for name, at, reason in rows}

    async def start_replay(
        self,
        subscription: str,
        start: int | datetime,
        end: int | datetime | None,
        now: datetime,
    ) -> int:
        rows = await self._fetch(
            "INSERT INTO delivery_replays (subscription, start_seq, start_time, end_seq, "
            "end_time, requested_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (
                subscription,
                start if isinstance(start, int) else None,
                self._ts(start) if isinstance(start, datetime) else None,
                end if isinstance(end, int) else None,
                self._ts(end) if isinstance(end, datetime) else None,
                self._ts(now),
            ),
        )
        return int(rows[0][0])

    async def finish_replay(self, replay: int, enqueued: int, now: datetime) -> None:
        await self._execute(
            "UPDATE delivery_replays SET finished_at = ?, enqueued = ? WHERE id = ?",
            (self._ts(now), enqueued, replay),
        )

    async def replay_record(self, replay: int) -> ReplayRecord | None:
        found = await self._fetch(
            "SELECT subscription, requested_at, finished_at, enqueued FROM delivery_replays "
            "WHERE id = ?",
            (replay,),
        )
        if not found:
            return None
        subscription, requested, finished, enqueued = found[0]
        counts = await self._fetch(
            "SELECT state, count(*) FROM deliveries WHERE subscription = ? AND replay = ? "
            "GROUP BY state",
            (subscription, replay),
        )
        by_state = {str(state): int(n) for state, n in counts}
        return ReplayRecord(
            replay,
            subscription,
            self._dt(requested),
            None if finished is None else self._dt(finished),
            None if enqueued is None else int(enqueued),
            by_state.get("pending", 0),
            by_state.get("dead", 0),
            by_state.get("done", 0),
        )

    def _lost(self, fence: Fence) -> LeaseLost:
        return LeaseLost(
            f"lease {fence.lease} is not held by {fence.owner} under token {fence.token}: "
            "another node holds it"
        )

    def _delivery(self, row: Row) -> Delivery:
        return Delivery(
            key=JobKey(row[0], row[1], row[2]),
            event_id=row[3],
            ordering_key=row[4],
            body=bytes(row[5]),
            state=row[6],
            attempt=row[7],
            next_at=self._dt(row[8]),
            published_at=self._dt(row[9]),
            created_at=self._dt(row[10]),
            updated_at=self._dt(row[11]),
            last_status=row[12],
            last_error=row[13],
            last_response=row[14],
        )
