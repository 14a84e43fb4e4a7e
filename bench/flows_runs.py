"""Flow runs a second through the engine: recorded, three steps checkpointed, finished.

    .venv/bin/python bench/flows_runs.py [--runs 500] [--concurrency 16] [--store postgresql://...]

A flow of three ``map`` steps, so the figure is the engine's own cost per run (the run's insert,
a checkpoint per step, the final status; concurrent runs' writes grouped into shared
transactions) with no HTTP in it. ``bench/flows.py`` is the full comparison. The runs go
``--concurrency`` at a time. SQLite runs on a file in a temporary folder; ``--store`` uses
PostgreSQL in a schema of its own, dropped after. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from interlink.errors import ConfigError
from interlink.estate.kinds.flow import FlowSpec
from interlink.flows.calls import Target
from interlink.flows.engine import FlowEngine
from interlink.flows.runs import FlowRuns
from interlink.store import open_store
from interlink.store.postgres import parse_postgres_url

SPEC = FlowSpec.model_validate(
    {
        "steps": [
            {"name": "a", "type": "map", "expression": '$merge([$, {"a": n + 1}])'},
            {"name": "b", "type": "map", "expression": '$merge([$, {"b": a * 2}])'},
            {"name": "c", "type": "map", "expression": '{"total": a + b}'},
        ]
    }
)


def no_systems(name: str) -> Target:
    raise ConfigError(f"no System {name!r}")


async def measure(url: str, runs: int, concurrency: int) -> float:
    with open_store(url) as store:
        store.migrate()
        engine = FlowEngine(FlowRuns(store.db), lambda _: SPEC, no_systems)
        gate = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            async with gate:
                run = await engine.start_and_run("bench", {"n": n})
                assert run.status == "completed", run.error

        await one(-1)  # warm the expression cache and the connections
        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(runs)))
        elapsed = time.perf_counter() - started
        await engine.aclose()
    return runs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--store", help="a postgresql:// URL (default: SQLite in a temp folder)")
    args = parser.parse_args()
    if args.store:
        schema = f"bench_{secrets.token_hex(4)}"
        url = f"{args.store}{'&' if '?' in args.store else '?'}schema={schema}"
        try:
            rate = asyncio.run(measure(url, args.runs, args.concurrency))
        finally:
            target = parse_postgres_url(url)
            with psycopg.connect(target.conninfo, autocommit=True) as conn:
                drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                conn.execute(drop.format(sql.Identifier(schema)))
        where = "PostgreSQL"
    else:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            rate = asyncio.run(measure(url, args.runs, args.concurrency))
        where = "SQLite"
    print(
        f"{where}: {rate:,.0f} three-step runs/s ({args.runs} runs, {args.concurrency} at a time)"
    )


if __name__ == "__main__":
    main()
