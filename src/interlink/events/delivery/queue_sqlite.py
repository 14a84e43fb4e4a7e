"""The delivery queue on SQLite: its own connection to the store file, on one worker thread.

One thread owns the connection, so every call is a single hop off the event loop and the
statements of one call run back to back in one transaction. WAL mode lets the store's own
connection (and other processes, like the CLI) read while the queue writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar

from interlink.errors import ConfigError, NotFound, StoreError, StoreUnavailable
from interlink.events.bus import Message
from interlink.events.delivery.queue import (
    Delivery,
    DeliveryQueue,
    Disabled,
    Job,
    JobKey,
    Outcome,
    Page,
    keys_of,
    truncate,
)
from interlink.store.base import check_page, redact_url
from interlink.store.sqlite import sqlite_path

T = TypeVar("T")

# Queries are whole literals (no string building), so what runs is what is read here.
_DUE: Final = (
    "SELECT seq, replay, event_id, key, body, attempt, published_at FROM deliveries "
    "WHERE subscription = ? AND state = 'pending' AND next_at <= ? "
    "ORDER BY next_at, seq, replay LIMIT ?"
)
# Ordered subscriptions: only a row no pending row of the same key comes before.
_DUE_ORDERED: Final = (
    "SELECT seq, replay, event_id, key, body, attempt, published_at FROM deliveries d "
    "WHERE d.subscription = ? AND d.state = 'pending' AND d.next_at <= ? "
    "AND (d.key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e "
    "WHERE e.subscription = d.subscription AND e.state = 'pending' AND e.key = d.key "
    "AND (e.seq, e.replay) < (d.seq, d.replay))) "
    "ORDER BY d.next_at, d.seq, d.replay LIMIT ?"
)
_NEXT: Final = (
    "SELECT seq, replay, next_at FROM deliveries "
    "WHERE subscription = ? AND state = 'pending' ORDER BY next_at, seq, replay LIMIT ?"
)
_NEXT_ORDERED: Final = (
    "SELECT seq, replay, next_at FROM deliveries d "
    "WHERE d.subscription = ? AND d.state = 'pending' "
    "AND (d.key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e "
    "WHERE e.subscription = d.subscription AND e.state = 'pending' AND e.key = d.key "
    "AND (e.seq, e.replay) < (d.seq, d.replay))) "
    "ORDER BY d.next_at, d.seq, d.replay LIMIT ?"
)
_LIST_DEAD: Final = (
    "SELECT subscription, seq, replay, event_id, key, body, state, attempt, next_at, "
    "published_at, created_at, updated_at, last_status, last_error, last_response "
    "FROM deliveries WHERE state = 'dead' AND (?1 IS NULL OR subscription = ?1) "
    "AND (?2 IS NULL OR (subscription, seq, replay) > (?2, ?3, ?4)) "
    "ORDER BY subscription, seq, replay LIMIT ?5"
)
_GET: Final = (
    "SELECT subscription, seq, replay, event_id, key, body, state, attempt, next_at, "
    "published_at, created_at, updated_at, last_status, last_error, last_response "
    "FROM deliveries WHERE subscription = ? AND seq = ? AND replay = ?"
)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class SQLiteDeliveryQueue(DeliveryQueue):
    def __init__(self, url: str, *, busy_timeout: float = 10.0) -> None:
        self._url = url
        self._path = sqlite_path(url)
        if self._path == ":memory:":
            raise ConfigError(
                "the delivery queue needs a database file the store shares; "
                "sqlite:///:memory: would give it a database of its own"
            )
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def url(self) -> str:
        return redact_url(self._url)

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="interlink-delivery-queue")
        try:
            self._conn = await self._run(self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _connect(self) -> sqlite3.Connection:
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable in WAL mode except for the last commits on power loss.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("SELECT 1 FROM deliveries LIMIT 0")
        except BaseException:
            conn.close()
            raise
        return conn

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StoreError(f"delivery queue {self.url} is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, partial(fn, *args)
            )
        except sqlite3.Error as exc:
            raise _translate(exc, self._path) from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot open SQLite database at {self._path}: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"delivery queue {self.url} is not open")
        return self._conn

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        # IMMEDIATE takes the write lock up front, so a transaction never fails half-way on a
        # lock upgrade; the batch commits as one.
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # --- the hot path ----------------------------------------------------------------------

    async def enqueue(
        self, subscription: str, messages: Sequence[Message], now: datetime, replay: int = 0
    ) -> int:
        if not messages:
            return 0
        at = _ts(now)
        rows = [
            (subscription, m.seq, replay, m.id, m.key, m.body, _ts(m.stored_at), at, at, at)
            for m in messages
        ]

        def insert(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO deliveries (subscription, seq, replay, event_id, key, "
                "body, published_at, next_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return conn.total_changes - before

        def insert_synced() -> int:
            # The caller acks these events on the bus right after this returns, and the bus
            # (fsynced itself) then forgets them: with NORMAL a power loss could take this
            # commit and lose the events for good. So this one commit is synced to disk; losing
            # any other write of the queue only means a delivery is sent again.
            conn = self._db()
            conn.execute("PRAGMA synchronous = FULL")
            try:
                return self._write(insert)
            finally:
                conn.execute("PRAGMA synchronous = NORMAL")

        return await self._run(insert_synced)

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
        query = _DUE_ORDERED if ordered else _DUE
        # Rows in flight are skipped here rather than in SQL: there are at most maxInFlight
        # of them, and a head in flight still holds its key through the NOT EXISTS above.
        rows = await self._run(self._read, query, (subscription, _ts(now), limit + len(exclude)))
        skip = set(exclude)
        jobs: list[Job] = []
        for seq, replay, event_id, key, body, attempt, published_at in rows:
            job_key = JobKey(subscription, seq, replay)
            if job_key in skip:
                continue
            jobs.append(Job(job_key, event_id, key, body, attempt, _dt(published_at)))
            if len(jobs) == limit:
                break
        return jobs

    async def next_due(
        self, subscription: str, exclude: Sequence[JobKey] = (), *, ordered: bool = False
    ) -> datetime | None:
        query = _NEXT_ORDERED if ordered else _NEXT
        rows = await self._run(self._read, query, (subscription, len(exclude) + 1))
        skip = set(exclude)
        for seq, replay, next_at in rows:
            if JobKey(subscription, seq, replay) not in skip:
                return _dt(next_at)
        return None

    def _read(self, query: str, params: Sequence[Any]) -> list[Any]:
        return self._db().execute(query, params).fetchall()

    async def complete(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        if not outcomes:
            return
        at = _ts(now)
        gone: list[tuple[str, int, int]] = []
        kept: list[tuple[Any, ...]] = []
        for o in outcomes:
            k = o.key
            if o.result in ("delivered", "dropped"):
                gone.append(k.columns)
            else:
                state = "dead" if o.result == "dead" else "pending"
                next_at = _ts(o.next_at or now)
                response = truncate(o.response)
                kept.append(
                    (state, o.attempt, next_at, at, o.status, o.error, response, *k.columns)
                )

        def apply(conn: sqlite3.Connection) -> None:
            if gone:
                conn.executemany(
                    "DELETE FROM deliveries WHERE subscription = ? AND seq = ? AND replay = ?",
                    gone,
                )
            if kept:
                conn.executemany(
                    "UPDATE deliveries SET state = ?, attempt = ?, next_at = ?, updated_at = ?, "
                    "last_status = ?, last_error = ?, last_response = ? "
                    "WHERE subscription = ? AND seq = ? AND replay = ?",
                    kept,
                )

        await self._run(self._write, apply)

    # --- dead letters ----------------------------------------------------------------------

    async def list_dead(
        self, subscription: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page:
        check_page(limit)
        after = JobKey.parse(cursor).columns if cursor is not None else (None, None, None)
        rows = await self._run(self._read, _LIST_DEAD, (subscription, *after, limit + 1))
        items = [_delivery(row) for row in rows[:limit]]
        return Page(items, str(items[-1].key) if len(rows) > limit else None)

    async def get(self, id: str | JobKey) -> Delivery:
        key = keys_of([id])[0]
        rows = await self._run(
            self._read,
            _GET,
            key.columns,
        )
        if not rows:
            raise NotFound(f"delivery {key} not found")
        return _delivery(rows[0])

    async def retry(self, ids: Sequence[str | JobKey], now: datetime) -> int:
        at = _ts(now)
        params = [(at, at, *k.columns) for k in keys_of(ids)]
        if not params:
            return 0

        def apply(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                "UPDATE deliveries SET state = 'pending', attempt = 0, next_at = ?, "
                "updated_at = ? WHERE subscription = ? AND seq = ? AND replay = ? "
                "AND state = 'dead'",
                params,
            )
            return conn.total_changes - before

        return await self._run(self._write, apply)

    async def retry_all(self, subscription: str, now: datetime) -> int:
        at = _ts(now)

        def apply(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE deliveries SET state = 'pending', attempt = 0, next_at = ?, "
                "updated_at = ? WHERE subscription = ? AND state = 'dead'",
                (at, at, subscription),
            ).rowcount

        return await self._run(self._write, apply)

    async def discard(self, ids: Sequence[str | JobKey]) -> int:
        params = [k.columns for k in keys_of(ids)]
        if not params:
            return 0

        def apply(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                "DELETE FROM deliveries WHERE subscription = ? AND seq = ? AND replay = ? "
                "AND state = 'dead'",
                params,
            )
            return conn.total_changes - before

        return await self._run(self._write, apply)

    async def depth(self, subscription: str) -> int:
        return await self._count(subscription, "pending")

    async def dlq_depth(self, subscription: str) -> int:
        return await self._count(subscription, "dead")

    async def _count(self, subscription: str, state: str) -> int:
        rows = await self._run(
            self._read,
            "SELECT count(*) FROM deliveries WHERE subscription = ? AND state = ?",
            (subscription, state),
        )
        return int(rows[0][0])

    # --- subscription state and replays ------------------------------------------------------

    async def disable(self, subscription: str, reason: str, now: datetime) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            # Disabling twice keeps the first time and reason: that is when it broke.
            conn.execute(
                "INSERT INTO subscription_state (name, disabled_at, disabled_reason) "
                "VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "disabled_reason = COALESCE(disabled_reason, excluded.disabled_reason), "
                "disabled_at = COALESCE(disabled_at, excluded.disabled_at)",
                (subscription, _ts(now), reason),
            )

        await self._run(self._write, apply)

    async def enable(self, subscription: str) -> bool:
        def apply(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE subscription_state SET disabled_at = NULL, disabled_reason = NULL "
                "WHERE name = ? AND disabled_at IS NOT NULL",
                (subscription,),
            )
            return cursor.rowcount > 0

        return await self._run(self._write, apply)

    async def disabled(self) -> dict[str, Disabled]:
        rows = await self._run(
            self._read,
            "SELECT name, disabled_at, disabled_reason FROM subscription_state "
            "WHERE disabled_at IS NOT NULL ORDER BY name",
            (),
        )
        return {name: Disabled(name, _dt(at), reason or "") for name, at, reason in rows}

    async def start_replay(
        self,
        subscription: str,
        start: int | datetime,
        end: int | datetime | None,
        now: datetime,
    ) -> int:
        params = (
            subscription,
            start if isinstance(start, int) else None,
            _ts(start) if isinstance(start, datetime) else None,
            end if isinstance(end, int) else None,
            _ts(end) if isinstance(end, datetime) else None,
            _ts(now),
        )

        def apply(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO delivery_replays (subscription, start_seq, start_time, end_seq, "
                "end_time, requested_at) VALUES (?, ?, ?, ?, ?, ?)",
                params,
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        return await self._run(self._write, apply)

    async def finish_replay(self, replay: int, enqueued: int, now: datetime) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE delivery_replays SET finished_at = ?, enqueued = ? WHERE id = ?",
                (_ts(now), enqueued, replay),
            )

        await self._run(self._write, apply)


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(
        key=JobKey(row[0], row[1], row[2]),
        event_id=row[3],
        ordering_key=row[4],
        body=bytes(row[5]),
        state=row[6],
        attempt=row[7],
        next_at=_dt(row[8]),
        published_at=_dt(row[9]),
        created_at=_dt(row[10]),
        updated_at=_dt(row[11]),
        last_status=row[12],
        last_error=row[13],
        last_response=row[14],
    )


def _translate(exc: sqlite3.Error, path: str) -> StoreError:
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return StoreUnavailable(f"SQLite database {path} is busy: {text}", retry_after=1.0)
    if "no such table" in lowered:
        return StoreError(
            f"SQLite database {path} has no delivery tables: migrate the store first ({text})"
        )
    if "unable to open" in lowered or "disk" in lowered or "readonly" in lowered:
        return StoreUnavailable(f"SQLite database {path} is unusable: {text}")
    return StoreError(f"SQLite database {path} failed: {text}")
