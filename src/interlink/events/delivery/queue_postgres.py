"""The delivery queue on PostgreSQL: psycopg's async pool, one statement per batch.

Batches travel as arrays and are unpacked with ``unnest``, so enqueueing or completing a
thousand rows is one round trip. ``?schema=NAME`` in the store URL applies here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from interlink.errors import StoreError, StoreUnavailable
from interlink.events.bus import Message
from interlink.events.delivery.queue import Fence, JobKey, Outcome, keys_of, truncate
from interlink.events.delivery.queue_sql import FENCE, Row, SQLDeliveryQueue
from interlink.store.postgres import (
    RECONNECT_TIMEOUT,
    first_line,
    format_placeholders,
    parse_postgres_url,
)

Connection = psycopg.AsyncConnection[TupleRow]

# The batches, as arrays: one statement whatever their size.
_ENQUEUE: Final = (
    "INSERT INTO deliveries (subscription, seq, replay, event_id, key, body, "
    "published_at, next_at, created_at, updated_at) "
    "SELECT ?, u.seq, ?, u.event_id, u.key, u.body, u.published_at, ?, ?, ? "
    "FROM unnest(?::bigint[], ?::text[], ?::text[], ?::bytea[], ?::timestamptz[]) "
    "AS u(seq, event_id, key, body, published_at) ON CONFLICT DO NOTHING"
)
_DONE: Final = (
    "UPDATE deliveries d SET state = 'done', body = NULL, attempt = u.attempt, updated_at = ?, "
    "last_status = u.last_status, last_error = NULL, last_response = NULL "
    "FROM unnest(?::text[], ?::bigint[], ?::bigint[], ?::int[], ?::int[]) "
    "AS u(subscription, seq, replay, attempt, last_status) "
    "WHERE d.subscription = u.subscription AND d.seq = u.seq AND d.replay = u.replay"
)
# The lease row is share-locked until the transaction ends: a node taking the lease over
# (which updates the row) waits for this write, or this write sees the new token and stops.
_FENCE: Final = FENCE + " FOR SHARE"
_UPDATE: Final = (
    "UPDATE deliveries d SET state = u.state, attempt = u.attempt, next_at = u.next_at, "
    "updated_at = ?, last_status = u.last_status, last_error = u.last_error, "
    "last_response = u.last_response FROM unnest(?::text[], ?::bigint[], ?::bigint[], "
    "?::text[], ?::int[], ?::timestamptz[], ?::int[], ?::text[], ?::text[]) "
    "AS u(subscription, seq, replay, state, attempt, next_at, last_status, last_error, "
    "last_response) "
    "WHERE d.subscription = u.subscription AND d.seq = u.seq AND d.replay = u.replay"
)
_RETRY: Final = (
    "UPDATE deliveries d SET state = 'pending', attempt = 0, next_at = ?, updated_at = ? "
    "FROM unnest(?::text[], ?::bigint[], ?::bigint[]) AS u(subscription, seq, replay) "
    "WHERE d.subscription = u.subscription AND d.seq = u.seq AND d.replay = u.replay "
    "AND d.state = 'dead'"
)
_DISCARD: Final = (
    "DELETE FROM deliveries d "
    "USING unnest(?::text[], ?::bigint[], ?::bigint[]) AS u(subscription, seq, replay) "
    "WHERE d.subscription = u.subscription AND d.seq = u.seq AND d.replay = u.replay "
    "AND d.state = 'dead'"
)


def _key_arrays(keys: Sequence[JobKey]) -> tuple[list[str], list[int], list[int]]:
    return [k.subscription for k in keys], [k.seq for k in keys], [k.replay for k in keys]


class PostgresDeliveryQueue(SQLDeliveryQueue):
    def __init__(self, url: str, *, max_size: int = 4, pool_timeout: float = 10.0) -> None:
        super().__init__(url)
        self._target = parse_postgres_url(url)
        self._max_size = max_size
        self._pool_timeout = pool_timeout
        self._pool: AsyncConnectionPool[Connection] | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._target.conninfo,
            min_size=1,
            max_size=self._max_size,
            open=False,
            kwargs={"autocommit": True},
            configure=self._configure,
            check=AsyncConnectionPool.check_connection,
            timeout=self._pool_timeout,
            reconnect_timeout=RECONNECT_TIMEOUT,
            name="interlink-delivery-queue",
        )
        try:
            await pool.open(wait=True, timeout=self._pool_timeout)
        except PoolTimeout:
            await pool.close()
            raise StoreUnavailable(
                f"cannot reach PostgreSQL at {self._target.where} for the delivery queue"
            ) from None
        self._pool = pool
        async with self._connection() as conn:
            await conn.execute("SELECT 1 FROM deliveries LIMIT 0")

    async def _configure(self, conn: Connection) -> None:
        if self._target.schema is not None:
            await conn.execute(
                sql.SQL("SET search_path TO {}").format(sql.Identifier(self._target.schema))
            )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        if self._pool is None:
            raise StoreError(f"delivery queue {self.url} is not open")
        where = self._target.where
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolClosed:
            raise StoreError(f"delivery queue {self.url} is closed") from None
        except PoolTimeout:
            raise StoreUnavailable(
                f"no PostgreSQL connection to {where} for the delivery queue", retry_after=1.0
            ) from None
        except pg_errors.UndefinedTable as exc:
            raise StoreError(
                f"PostgreSQL at {where} has no delivery tables: migrate the store first"
            ) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL at {where} failed: {first_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {where} failed: {first_line(exc)}") from exc

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._connection() as conn:
            cursor = await conn.execute(format_placeholders(query), params)
            return await cursor.fetchall()

    async def _execute(self, query: str, params: Sequence[Any] = ()) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(format_placeholders(query), params)
            return cursor.rowcount

    def _ts(self, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def _dt(self, value: Any) -> datetime:
        moment: datetime = value.astimezone(UTC)
        return moment

    def _text(self, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL; a receiver's binary answer must not fail the batch.
        return None if value is None else value.replace("\x00", "\ufffd")

    # --- batches -----------------------------------------------------------------------------

    async def _check(self, conn: Connection, fence: Fence | None) -> None:
        if fence is None:
            return
        cursor = await conn.execute(format_placeholders(_FENCE), fence.columns)
        if await cursor.fetchone() is None:
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
        params = (
            subscription,
            replay,
            now,
            now,
            now,
            [m.seq for m in messages],
            [self._text(m.id) for m in messages],
            [self._text(m.key) for m in messages],
            [m.body for m in messages],
            [m.stored_at for m in messages],
        )
        if fence is None:
            return await self._execute(_ENQUEUE, params)
        async with self._connection() as conn, conn.transaction():
            await self._check(conn, fence)
            cursor = await conn.execute(format_placeholders(_ENQUEUE), params)
            return cursor.rowcount

    async def complete(
        self, outcomes: Sequence[Outcome], now: datetime, *, fence: Fence | None = None
    ) -> None:
        if not outcomes:
            return
        gone = [o for o in outcomes if o.result in ("delivered", "dropped")]
        kept = [o for o in outcomes if o.result not in ("delivered", "dropped")]
        async with self._connection() as conn, conn.transaction():
            await self._check(conn, fence)
            if gone:
                await conn.execute(
                    format_placeholders(_DONE),
                    (
                        now,
                        *_key_arrays([o.key for o in gone]),
                        [o.attempt for o in gone],
                        [o.status for o in gone],
                    ),
                )
            if kept:
                await conn.execute(
                    format_placeholders(_UPDATE),
                    (
                        now,
                        *_key_arrays([o.key for o in kept]),
                        ["dead" if o.result == "dead" else "pending" for o in kept],
                        [o.attempt for o in kept],
                        [o.next_at or now for o in kept],
                        [o.status for o in kept],
                        [self._text(o.error) for o in kept],
                        [self._text(truncate(o.response)) for o in kept],
                    ),
                )

    async def retry(self, ids: Sequence[str | JobKey], now: datetime) -> int:
        keys = keys_of(ids)
        if not keys:
            return 0
        return await self._execute(_RETRY, (now, now, *_key_arrays(keys)))

    async def discard(self, ids: Sequence[str | JobKey]) -> int:
        keys = keys_of(ids)
        if not keys:
            return 0
        return await self._execute(_DISCARD, _key_arrays(keys))
