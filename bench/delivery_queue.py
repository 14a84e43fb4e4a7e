"""The delivery queue alone: rows a second through enqueue, due and complete, as a worker does.

    .venv/bin/python bench/delivery_queue.py [--rows 20000] [--batch 500]
        [--store postgresql://...] [--fenced]
    .venv/bin/python bench/delivery_queue.py --ordered [--keys 10] [--in-flight 4] ...

Each round enqueues a batch of events, reads them back as due and writes them back delivered,
the three statements a delivery costs in the queue, with no HTTP in between, so the figure is
the queue's own ceiling. SQLite runs on a file in a temporary folder; ``--store`` uses
PostgreSQL in a schema of its own, dropped after. ``--fenced`` writes under a lease taken in
the store, as a node among several does. Printed, never asserted; run it beside another setting
and compare the ratio.

``--ordered`` drains a backlog instead, as an ordered subscription does: all rows are queued
first, over ``--keys`` ordering keys, then read ``--in-flight`` heads at a time (``due`` and
``next_due``, as the dispatcher asked before it had ``take``, so the same script also runs
against older code) and written back delivered until none is left.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from interlink.events.bus import Message
from interlink.events.delivery.queue import Outcome
from interlink.events.delivery.queues import open_queue
from interlink.store import open_store
from interlink.store.postgres import parse_postgres_url

SUB = "bench"


def messages(first: int, count: int, now: datetime, keys: int = 512) -> list[Message]:
    body = b'{"specversion": "1.0", "id": "e", "data": {"orderId": "O1", "total": 12}}'
    return [
        Message("order.created", n, f"evt-{n}", "shop", f"O{n % keys}", body, now)
        for n in range(first, first + count)
    ]


async def cycle(url: str, rows: int, batch: int, fenced: bool) -> float:
    with open_store(url) as store:
        store.migrate()
        fence = None
        if fenced:
            from interlink.events.delivery.queue import Fence

            lease = store.leases.acquire(f"subscription:{SUB}", "bench-node", 3600)
            assert lease is not None
            fence = Fence(lease.name, lease.owner, lease.token)
    async with open_queue(url) as queue:
        began = time.perf_counter()
        for first in range(1, rows + 1, batch):
            now = datetime.now(UTC)
            count = min(batch, rows + 1 - first)
            # Passed only when fenced, so the script also runs against a queue without fences.
            kwargs: dict[str, Any] = {"fence": fence} if fence is not None else {}
            added = await queue.enqueue(SUB, messages(first, count, now), now, **kwargs)
            assert added == count
            jobs = await queue.due(SUB, now, count)
            assert len(jobs) == count
            done = [Outcome(job.key, "delivered", 1, status=204) for job in jobs]
            await queue.complete(done, datetime.now(UTC), **kwargs)
        return rows / (time.perf_counter() - began)


async def drain(url: str, rows: int, batch: int, keys: int, in_flight: int) -> float:
    with open_store(url) as store:
        store.migrate()
    async with open_queue(url) as queue:
        now = datetime.now(UTC)
        for first in range(1, rows + 1, batch):
            await queue.enqueue(SUB, messages(first, min(batch, rows + 1 - first), now, keys), now)
        began = time.perf_counter()
        left = rows
        while left:
            jobs = await queue.due(SUB, now, in_flight, ordered=True)
            if len(jobs) < in_flight:
                await queue.next_due(SUB, [job.key for job in jobs], ordered=True)
            done = [Outcome(job.key, "delivered", 1, status=204) for job in jobs]
            await queue.complete(done, now)
            left -= len(jobs)
        return rows / (time.perf_counter() - began)


def drop_schema(url: str) -> None:
    target = parse_postgres_url(url)
    assert target.schema is not None
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(target.schema)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--store", default="", help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--fenced", action="store_true", help="write under a lease's token")
    parser.add_argument("--ordered", action="store_true", help="drain an ordered backlog")
    parser.add_argument("--keys", type=int, default=10, help="ordering keys, with --ordered")
    parser.add_argument("--in-flight", type=int, default=4, help="heads read at a time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.store:
            schema = f"bench_{secrets.token_hex(4)}"
            url = f"{args.store}{'&' if '?' in args.store else '?'}schema={schema}"
        else:
            url = f"sqlite:///{Path(tmp) / 'store.db'}"
        try:
            if args.ordered:
                job = drain(url, args.rows, args.batch, args.keys, args.in_flight)
            else:
                job = cycle(url, args.rows, args.batch, args.fenced)
            rate = asyncio.run(job)
        finally:
            if args.store:
                drop_schema(url)
    where = "PostgreSQL" if args.store else "SQLite"
    if args.ordered:
        print(
            f"{where}: {rate:,.0f} rows/s draining {args.rows:,} ordered rows over {args.keys} "
            f"key(s), {args.in_flight} at a time"
        )
        return
    fenced = ", fenced" if args.fenced else ""
    print(f"{where}{fenced}: {rate:,.0f} rows/s through enqueue, due, complete")


if __name__ == "__main__":
    main()
