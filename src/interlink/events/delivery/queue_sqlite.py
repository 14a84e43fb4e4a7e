"""The delivery queue on SQLite: its own connection to the store file, on one worker thread.

One thread owns the connection, so every call is a single hop off the event loop and the
statements of one call run back to back in one transaction. WAL mode lets the store's own
connection (and other processes, like the CLI) read while the queue writes. SQLite has a single
writer, so a batch is an ``executemany`` inside one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any, Final, TypeVar

from interlink.errors import ConfigError, StoreError
from interlink.events.bus import Message
from interlink.events.delivery.queue import Fence, JobKey, Outcome, keys_of, truncate
from interlink.events.delivery.queue_sql import FENCE, Row, SQLDeliveryQueue
from interlink.store.sqlite import (
    MEMORY,
    connect_sqlite,
    immediate,
    sqlite_path,
    sqlite_ts,
    translate_error,
)

T = TypeVar("T")

_NOT_MIGRATED: Final = "has no delivery tables: migrate the store first"


class SQLiteDeliveryQueue(SQLDeliveryQueue):
    def __init__(self, url: str, *, busy_timeout: float = 10.0) -> None:
        super().__init__(url)
        self._path = sqlite_path(url)
        if self._path == MEMORY:
            raise ConfigError(
                "the delivery queue needs a database file the store shares; "
                "sqlite:///:memory: would give it a database of its own"
            )
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

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
        conn = connect_sqlite(self._path, self._busy_timeout)
        try:
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
            raise translate_error(exc, self._path, _NOT_MIGRATED) from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"delivery queue {self.url} is not open")
        return self._conn

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with immediate(self._db()) as conn:
            return fn(conn)

    def _read(self, query: str, params: Sequence[Any]) -> list[Row]:
        return self._db().execute(query, params).fetchall()

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._run(self._read, query, params)

    async def _execute(self, query: str, params: Sequence[Any] = ()) -> int:
        def apply(conn: sqlite3.Connection) -> int:
            return conn.execute(query, params).rowcount

        return await self._run(self._write, apply)

    async def _execute_many(self, query: str, rows: Sequence[Sequence[Any]]) -> int:
        def apply(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(query, rows)
            return conn.total_changes - before

        return await self._run(self._write, apply)

    def _ts(self, value: datetime) -> str:
        return sqlite_ts(value)

    def _dt(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    # --- batches -----------------------------------------------------------------------------

    def _check(self, conn: sqlite3.Connection, fence: Fence | None) -> None:
        """Inside the write transaction: SQLite's single writer keeps the answer true until
        it commits."""
        if fence is not None and conn.execute(FENCE, fence.columns).fetchone() is None:
            raise self._lost(fence)

    async def enqueue(
        self,
        subscription: str,
        messages: Sequence[Message],
        now: datetime,
        replay: int = 0,
        *,
        fence: Fence | None = None,
    ) -> int:
        if not messages:
            return 0
        at = sqlite_ts(now)
        rows = [
            (subscription, m.seq, replay, m.id, m.key, m.body, sqlite_ts(m.stored_at), at, at, at)
            for m in messages
        ]

        def insert(conn: sqlite3.Connection) -> int:
            self._check(conn, fence)
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

    async def complete(
        self, outcomes: Sequence[Outcome], now: datetime, *, fence: Fence | None = None
    ) -> None:
        if not outcomes:
            return
        at = sqlite_ts(now)
        gone: list[tuple[Any, ...]] = []
        kept: list[tuple[Any, ...]] = []
        for o in outcomes:
            k = o.key
            if o.result in ("delivered", "dropped"):
                gone.append((o.attempt, at, o.status, *k.columns))
            else:
                state = "dead" if o.result == "dead" else "pending"
                next_at = sqlite_ts(o.next_at or now)
                response = truncate(o.response)
                kept.append(
                    (state, o.attempt, next_at, at, o.status, o.error, response, *k.columns)
                )

        def apply(conn: sqlite3.Connection) -> None:
            self._check(conn, fence)
            if gone:
                conn.executemany(
                    "UPDATE deliveries SET state = 'done', body = NULL, attempt = ?, "
                    "updated_at = ?, last_status = ?, last_error = NULL, last_response = NULL "
                    "WHERE subscription = ? AND seq = ? AND replay = ?",
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

    async def retry(self, ids: Sequence[str | JobKey], now: datetime) -> int:
        at = sqlite_ts(now)
        params = [(at, at, *k.columns) for k in keys_of(ids)]
        if not params:
            return 0
        return await self._execute_many(
            "UPDATE deliveries SET state = 'pending', attempt = 0, next_at = ?, "
            "updated_at = ? WHERE subscription = ? AND seq = ? AND replay = ? "
            "AND state = 'dead'",
            params,
        )

    async def discard(self, ids: Sequence[str | JobKey]) -> int:
        params = [k.columns for k in keys_of(ids)]
        if not params:
            return 0
        return await self._execute_many(
            "DELETE FROM deliveries WHERE subscription = ? AND seq = ? AND replay = ? "
            "AND state = 'dead'",
            params,
        )
