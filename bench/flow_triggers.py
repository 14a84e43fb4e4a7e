"""Items a second through a polling trigger and a queue trigger: each item's run recorded.

    .venv/bin/python bench/flow_triggers.py [--items 5000] [--limit 100] [--concurrency 16]
        [--store postgresql://...]

The poller polls an in-memory source of ``--items`` items, ``--limit`` a batch, records a run
per item (``FlowEngine.start``: recorded, not run) and stores the cursor after each batch, as
in serve; the clock stops when the source is polled from the last cursor. The consumer takes as
many messages from an in-memory queue, one at a time and then ``--concurrency`` at a time, each
acked after its run is recorded. So
the figures are the triggers' own cost over the store, not a connector's. SQLite runs on a file
in a temporary folder; ``--store`` uses PostgreSQL in a schema of its own, dropped after.
Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from interlink.errors import ConfigError
from interlink.estate.kinds.flow import FlowSpec
from interlink.flows.calls import Target
from interlink.flows.engine import FlowEngine
from interlink.flows.runs import FlowRuns
from interlink.flows.triggers import Batch, Consumer, Delivery, Item, Poller, TriggerCheckpoints
from interlink.store import open_store
from interlink.store.postgres import parse_postgres_url

SPEC = FlowSpec.model_validate({"steps": [{"name": "a", "type": "map", "expression": "$"}]})


def no_systems(name: str) -> Target:
    raise ConfigError(f"no System {name!r}")


class Counting:
    """Items 0..total-1; the cursor is the next one's number."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = asyncio.Event()

    async def poll(self, cursor: Any, limit: int) -> Batch:
        start = cursor or 0
        if start >= self.total:
            self.done.set()
        end = min(start + limit, self.total)
        items = [Item(str(n), {"n": n}) for n in range(start, end)]
        # ``more`` on the last batch too, so the poll that finds its stored cursor comes at once.
        return Batch(items, end, start < self.total)


class Queued:
    def __init__(self, total: int) -> None:
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(total):
            self.queue.put_nowait(n)
        self.acked = 0
        self.total = total
        self.done = asyncio.Event()

    async def receive(self) -> Delivery:
        n = await self.queue.get()

        async def ack() -> None:
            self.acked += 1
            if self.acked == self.total:
                self.done.set()

        async def nack() -> None:
            self.queue.put_nowait(n)

        return Delivery(f"m{n}", {"n": n}, ack, nack)


async def measure(url: str, items: int, limit: int, concurrency: int) -> list[float]:
    with open_store(url) as store:
        store.migrate()
        engine = FlowEngine(FlowRuns(store.db), lambda _: SPEC, no_systems)
        await engine.start("bench", {"n": -1})  # warm the connections
        source = Counting(items)
        poller = Poller(
            "bench", "rows", source, engine.start, TriggerCheckpoints(store.db), limit=limit
        )
        started = time.perf_counter()
        await poller.start()
        await source.done.wait()
        polled = items / (time.perf_counter() - started)
        await poller.close()
        rates = [polled]
        for at_once in (1, concurrency):
            queue = Queued(items)
            name = f"queue{at_once}"
            consumer = Consumer("bench", name, queue, engine.start, concurrency=at_once)
            started = time.perf_counter()
            await consumer.start()
            await queue.done.wait()
            rates.append(items / (time.perf_counter() - started))
            await consumer.close()
        await engine.aclose()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--store", help="a postgresql:// URL (default: SQLite in a temp folder)")
    args = parser.parse_args()
    if args.store:
        schema = f"bench_{secrets.token_hex(4)}"
        url = f"{args.store}{'&' if '?' in args.store else '?'}schema={schema}"
        try:
            rates = asyncio.run(measure(url, args.items, args.limit, args.concurrency))
        finally:
            target = parse_postgres_url(url)
            with psycopg.connect(target.conninfo, autocommit=True) as conn:
                drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                conn.execute(drop.format(sql.Identifier(schema)))
        where = "PostgreSQL"
    else:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            rates = asyncio.run(measure(url, args.items, args.limit, args.concurrency))
        where = "SQLite"
    print(
        f"{where}: polled {rates[0]:,.0f} items/s (batches of {args.limit}); consumed "
        f"{rates[1]:,.0f} messages/s one at a time, {rates[2]:,.0f} {args.concurrency} at a "
        f"time; {args.items} items"
    )


if __name__ == "__main__":
    main()
