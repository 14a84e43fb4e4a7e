"""The delivery queue on PostgreSQL: psycopg's async pool, one statement per batch.

Batches travel as arrays and are unpacked with ``unnest``, so enqueueing or completing a
thousand rows is one round trip. ``?schema=NAME`` in the store URL applies here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from interlink.errors import NotFound, StoreError, StoreUnavailable
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
from interlink.store.postgres import parse_postgres_url

Connection = psycopg.AsyncConnection[TupleRow]

# Queries are whole literals (no string building), so what runs is what is read here.
_DUE: Final = (
    "SELECT seq, replay, event_id, key, body, attempt, published_at FROM deliveries "
    "WHERE subscription = %s AND state = 'pending' AND next_at <= %s "
    "ORDER BY next_at, seq, replay LIMIT %s"
)
# Ordered subscriptions: only a row no pending row of the same key comes before.
_DUE_ORDERED: Final = (
    "SELECT seq, replay, event_id, key, body, attempt, published_at FROM deliveries d "
    "WHERE d.subscription = %s AND d.state = 'pending' AND d.next_at <= %s "
    "AND (d.key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e "
    "WHERE e.subscription = d.subscription AND e.state = 'pending' AND e.key = d.key "
    "AND (e.seq, e.replay) < (d.seq, d.replay))) "
    "ORDER BY d.next_at, d.seq, d.replay LIMIT %s"
)
_NEXT: Final = (
    "SELECT seq, replay, next_at FROM deliveries "
    "WHERE subscription = %s AND state = 'pending' ORDER BY next_at, seq, replay LIMIT %s"
)
_NEXT_ORDERED: Final = (
    "SELECT seq, replay, next_at FROM deliveries d "
    "WHERE d.subscription = %s AND d.state = 'pending' "
    "AND (d.key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e "
    "WHERE e.subscription = d.subscription AND e.state = 'pending' AND e.key = d.key "
    "AND (e.seq, e.replay) < (d.seq, d.replay))) "
    "ORDER BY d.next_at, d.seq, d.replay LIMIT %s"
)
_LIST_DEAD: Final = (
    "SELECT subscription, seq, replay, event_id, key, body, state, attempt, next_at, "
    "published_at, created_at, updated_at, last_status, last_error, last_response "
    "FROM deliveries WHERE state = 'dead' "
    "AND (%(sub)s::text IS NULL OR subscription = %(sub)s) "
    "AND (%(after)s::text IS NULL OR (subscription, seq, replay) > (%(after)s, %(seq)s, %(rep)s)) "
    "ORDER BY subscription, seq, replay LIMIT %(limit)s"
)
_GET: Final = (
    "SELECT subscription, seq, replay, event_id, key, body, state, attempt, next_at, "
    "published_at, created_at, updated_at, last_status, last_error, last_response "
    "FROM deliveries WHERE subscription = %s AND seq = %s AND replay = %s"
)
_DELETE: Final = (
    "DELETE FROM deliveries d "
    "USING unnest(%s::text[], %s::bigint[], %s::bigint[]) AS u(subscription, seq, replay) "
    "WHERE d.subscription = u.subscription AND d.seq = u.seq AND d.replay = u.replay"
)
_UPDATE: Final = (
    "UPDATE deliveries d SET state = u.state, attempt = u.attempt, next_at = u.next_at, "
    "updated_at = %s, last_status = u.last_status, last_error = u.last_error, "
    "last_response = u.last_response FROM unnest(%s::text[], %s::bigint[], %s::bigint[], "
    "%s::text[], %s::int[], %s::timestamptz[], %s::int[], %s::text[], %s::text[]) "
    "AS u(subscription, seq, replay, state, attempt, next_at, last_status, last_error, "
    "last_response) "
    "WHERE d.subscription = u.subscription AND d.seq = u.seq AND d.replay = u.replay"
)
_RETRY: Final = (
    "UPDATE deliveries d SET state = 'pending', attempt = 0, next_at = %s, updated_at = %s "
    "FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS u(subscription, seq, replay) "
    "WHERE d.subscription = u.subscription AND d.seq = u.seq AND d.replay = u.replay "
    "AND d.state = 'dead'"
)
_DISCARD: Final = (
    "DELETE FROM deliveries d "
    "USING unnest(%s::text[], %s::bigint[], %s::bigint[]) AS u(subscription, seq, replay) "
    "WHERE d.subscription = u.subscription AND d.seq = u.seq AND d.replay = u.replay "
    "AND d.state = 'dead'"
)


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; a receiver's binary answer must not fail the batch.
    return None if value is None else value.replace("\x00", "\ufffd")


def _key_arrays(keys: Sequence[JobKey]) -> tuple[list[str], list[int], list[int]]:
    return [k.subscription for k in keys], [k.seq for k in keys], [k.replay for k in keys]


class PostgresDeliveryQueue(DeliveryQueue):
    def __init__(self, url: str, *, max_size: int = 4, pool_timeout: float = 10.0) -> None:
        self._url = url
        self._target = parse_postgres_url(url)
        self._max_size = max_size
        self._pool_timeout = pool_timeout
        self._pool: AsyncConnectionPool[Connection] | None = None

    @property
    def url(self) -> str:
        return redact_url(self._url)

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
            raise StoreUnavailable(f"PostgreSQL at {where} failed: {_first_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {where} failed: {_first_line(exc)}") from exc

    async def _fetch(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[TupleRow]:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def _execute(self, query: str, params: Sequence[Any] = ()) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return cursor.rowcount

    # --- the hot path ----------------------------------------------------------------------

    async def enqueue(
        self, subscription: str, messages: Sequence[Message], now: datetime, replay: int = 0
    ) -> int:
        if not messages:
            return 0
        return await self._execute(
            "INSERT INTO deliveries (subscription, seq, replay, event_id, key, body, "
            "published_at, next_at, created_at, updated_at) "
            "SELECT %s, u.seq, %s, u.event_id, u.key, u.body, u.published_at, %s, %s, %s "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bytea[], %s::timestamptz[]) "
            "AS u(seq, event_id, key, body, published_at) ON CONFLICT DO NOTHING",
            (
                subscription,
                replay,
                now,
                now,
                now,
                [m.seq for m in messages],
                [_text(m.id) for m in messages],
                [_text(m.key) for m in messages],
                [m.body for m in messages],
                [m.stored_at for m in messages],
            ),
        )

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
        rows = await self._fetch(
            _DUE_ORDERED if ordered else _DUE,
            (subscription, now, limit + len(exclude)),
        )
        skip = set(exclude)
        jobs: list[Job] = []
        for seq, replay, event_id, key, body, attempt, published_at in rows:
            job_key = JobKey(subscription, seq, replay)
            if job_key in skip:
                continue
            jobs.append(
                Job(job_key, event_id, key, bytes(body), attempt, published_at.astimezone(UTC))
            )
            if len(jobs) == limit:
                break
        return jobs

    async def next_due(
        self, subscription: str, exclude: Sequence[JobKey] = (), *, ordered: bool = False
    ) -> datetime | None:
        rows = await self._fetch(
            _NEXT_ORDERED if ordered else _NEXT,
            (subscription, len(exclude) + 1),
        )
        skip = set(exclude)
        for seq, replay, next_at in rows:
            if JobKey(subscription, seq, replay) not in skip:
                return next_at.astimezone(UTC)  # type: ignore[no-any-return]
        return None

    async def complete(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        if not outcomes:
            return
        gone = [o.key for o in outcomes if o.result in ("delivered", "dropped")]
        kept = [o for o in outcomes if o.result not in ("delivered", "dropped")]
        async with self._connection() as conn, conn.transaction():
            if gone:
                await conn.execute(_DELETE, _key_arrays(gone))
            if kept:
                await conn.execute(
                    _UPDATE,
                    (
                        now,
                        *_key_arrays([o.key for o in kept]),
                        ["dead" if o.result == "dead" else "pending" for o in kept],
                        [o.attempt for o in kept],
                        [o.next_at or now for o in kept],
                        [o.status for o in kept],
                        [_text(o.error) for o in kept],
                        [_text(truncate(o.response)) for o in kept],
                    ),
                )

    # --- dead letters ----------------------------------------------------------------------

    async def list_dead(
        self, subscription: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page:
        check_page(limit)
        after = JobKey.parse(cursor) if cursor is not None else None
        rows = await self._fetch(
            _LIST_DEAD,
            {
                "sub": subscription,
                "after": after.subscription if after else None,
                "seq": after.seq if after else None,
                "rep": after.replay if after else None,
                "limit": limit + 1,
            },
        )
        items = [_delivery(row) for row in rows[:limit]]
        return Page(items, str(items[-1].key) if len(rows) > limit else None)

    async def get(self, id: str | JobKey) -> Delivery:
        key = keys_of([id])[0]
        rows = await self._fetch(_GET, key.columns)
        if not rows:
            raise NotFound(f"delivery {key} not found")
        return _delivery(rows[0])

    async def retry(self, ids: Sequence[str | JobKey], now: datetime) -> int:
        keys = keys_of(ids)
        if not keys:
            return 0
        return await self._execute(_RETRY, (now, now, *_key_arrays(keys)))

    async def retry_all(self, subscription: str, now: datetime) -> int:
        return await self._execute(
            "UPDATE deliveries SET state = 'pending', attempt = 0, next_at = %s, "
            "updated_at = %s WHERE subscription = %s AND state = 'dead'",
            (now, now, subscription),
        )

    async def discard(self, ids: Sequence[str | JobKey]) -> int:
        keys = keys_of(ids)
        if not keys:
            return 0
        return await self._execute(_DISCARD, _key_arrays(keys))

    async def depth(self, subscription: str) -> int:
        return await self._count(subscription, "pending")

    async def dlq_depth(self, subscription: str) -> int:
        return await self._count(subscription, "dead")

    async def _count(self, subscription: str, state: str) -> int:
        rows = await self._fetch(
            "SELECT count(*) FROM deliveries WHERE subscription = %s AND state = %s",
            (subscription, state),
        )
        return int(rows[0][0])

    # --- subscription state and replays ------------------------------------------------------

    async def disable(self, subscription: str, reason: str, now: datetime) -> None:
        # Disabling twice keeps the first time and reason: that is when it broke.
        await self._execute(
            "INSERT INTO subscription_state AS s (name, disabled_at, disabled_reason) "
            "VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "disabled_reason = COALESCE(s.disabled_reason, excluded.disabled_reason), "
            "disabled_at = COALESCE(s.disabled_at, excluded.disabled_at)",
            (subscription, now, _text(reason)),
        )

    async def enable(self, subscription: str) -> bool:
        changed = await self._execute(
            "UPDATE subscription_state SET disabled_at = NULL, disabled_reason = NULL "
            "WHERE name = %s AND disabled_at IS NOT NULL",
            (subscription,),
        )
        return changed > 0

    async def disabled(self) -> dict[str, Disabled]:
        rows = await self._fetch(
            "SELECT name, disabled_at, disabled_reason FROM subscription_state "
            "WHERE disabled_at IS NOT NULL ORDER BY name"
        )
        return {name: Disabled(name, at.astimezone(UTC), reason or "") for name, at, reason in rows}

    async def start_replay(
        self,
        subscription: str,
        start: int | datetime,
        end: int | datetime | None,
        now: datetime,
    ) -> int:
        rows = await self._fetch(
            "INSERT INTO delivery_replays (subscription, start_seq, start_time, end_seq, "
            "end_time, requested_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (
                subscription,
                start if isinstance(start, int) else None,
                start if isinstance(start, datetime) else None,
                end if isinstance(end, int) else None,
                end if isinstance(end, datetime) else None,
                now,
            ),
        )
        return int(rows[0][0])

    async def finish_replay(self, replay: int, enqueued: int, now: datetime) -> None:
        await self._execute(
            "UPDATE delivery_replays SET finished_at = %s, enqueued = %s WHERE id = %s",
            (now, enqueued, replay),
        )


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(
        key=JobKey(row[0], row[1], row[2]),
        event_id=row[3],
        ordering_key=row[4],
        body=bytes(row[5]),
        state=row[6],
        attempt=row[7],
        next_at=row[8].astimezone(UTC),
        published_at=row[9].astimezone(UTC),
        created_at=row[10].astimezone(UTC),
        updated_at=row[11].astimezone(UTC),
        last_status=row[12],
        last_error=row[13],
        last_response=row[14],
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
