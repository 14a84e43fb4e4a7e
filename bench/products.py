"""Data products against their references, measured in the same run (printed, never asserted).

    .venv/bin/python bench/products.py [--rows 100000] [--big 1000000] [--repeat 5] [--samples 200]

1. A virtual query over PostgreSQL (no cache: ``cacheTtl: 0``) reading ``--rows`` rows,
   against psycopg's own read of the same rows (one async cursor, ``fetchall``). The ratio is
   psycopg's time over the product's (target: at least 0.7), the medians of ``--repeat``
   alternated reads of a freshly vacuumed table.
   The product's read gets NUMERIC as floats (the contract's ``number``); psycopg's own read
   gets Decimals, as it does by default.
2. A filtered, ordered page of 100 rows (the 11th page) of a materialised product of ``--big``
   rows, against bare DuckDB running the same filter, order and page over the same Parquet file.
3. The same page through the gateway (a ``product:`` Route, in-process, over loopback HTTP with
   one keep-alive client) as JSON and as Arrow, against the same bare DuckDB query.

Items 2 and 3 print medians of ``--repeat`` runs, then p50 and p99 over ``--samples`` runs
each, bare DuckDB's measured in the same run.

The table and the files are the run's own, removed after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from interlink.estate.loader import load_estate
from interlink.gateway import GatewayServer, compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.gateway.sockets import bind
from interlink.products.filters import Filter, Op
from interlink.products.query import Policy, ProductQuery, encode_cursor
from interlink.products.service import Products
from interlink.testing.services import postgres_url

COLUMNS = """\
    columns:
      - {name: id, type: integer, nullable: false}
      - {name: status, type: string}
      - {name: amount, type: number}
      - {name: placed_at, type: timestamp}
"""


ROUTE = """---
apiVersion: interlink/v1
kind: Route
metadata: {name: orders}
spec: {match: {path: /data/orders}, product: orders}
"""


def _estate(root: Path, system: str, source: str, mode: str) -> Products:
    text = (
        f"{system}---\napiVersion: interlink/v1\nkind: DataProduct\nmetadata: {{name: orders}}\n"
        f"spec:\n  domain: bench\n  source: {source}\n  mode: {mode}\n  cacheTtl: 0\n"
        f"  contract:\n{COLUMNS}{ROUTE}"
    )
    (root / "estate").mkdir(parents=True, exist_ok=True)
    (root / "estate" / "estate.yaml").write_text(text)
    estate, _ = load_estate(root / "estate")
    return Products(lambda: estate, root / "data")


async def _times(repeat: int, run: Callable[[], Awaitable[Any]]) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await run()
        times.append(time.perf_counter() - began)
    return times


async def _best(repeat: int, run: Callable[[], Awaitable[Any]]) -> float:
    return statistics.median(await _times(repeat, run))


def _p(times: list[float], q: float) -> float:
    """The ``q`` quantile (0.5, 0.99) of ``times``, nearest rank."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1)]


def _latencies(times: list[float], bare: list[float]) -> str:
    """p50 and p99 in ms against bare DuckDB's, and their ratios (bare / ours)."""
    parts = []
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        ours, theirs = _p(times, q), _p(bare, q)
        parts.append(
            f"{label} {ours * 1000:.1f} ms vs {theirs * 1000:.1f} ms ({theirs / ours:.2f}x)"
        )
    return "; ".join(parts)


async def _postgres(root: Path, rows: int, repeat: int) -> None:
    url = postgres_url()
    schema = f"il_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.orders AS SELECT g AS id, (ARRAY['open','shipped'])[g %% 2 + 1] "
                "AS status, (g %% 1000)::numeric(8,2) AS amount, "
                "now() - g * interval '1 second' AS placed_at FROM generate_series(1, %s) g"
            ).format(sql.Identifier(schema)),
            (rows,),
        )
        # Hint bits set and statistics taken now, so neither the first reads nor an autovacuum
        # of the new table land inside one side's timing.
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}.orders").format(sql.Identifier(schema)))
    parts = urlsplit(url)
    config = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "database": parts.path.lstrip("/") or "test",
        "user": parts.username or "postgres",
        "schema": schema,
    }
    system = (
        "apiVersion: interlink/v1\nkind: System\nmetadata: {name: db}\nspec:\n  domain: bench\n"
        f"  connector: postgresql\n  connection: {json.dumps(config)}\n"
    )
    products = _estate(root, system, "{system: db, type: sql, location: orders}", "virtual")
    statement = f'SELECT id, status, amount, placed_at FROM "{schema}".orders'
    try:
        async with await psycopg.AsyncConnection.connect(url) as reader:

            async def bare() -> None:
                async with reader.cursor() as cursor:
                    await cursor.execute(statement.encode())
                    await cursor.fetchall()

            query = ProductQuery(limit=min(rows, 100_000))
            await products.query("orders", query, Policy())  # the pool opened
            await bare()
            # Alternated, so a moment of load elsewhere falls on both sides alike.
            pairs = [
                (
                    await _best(1, lambda: products.query("orders", query, Policy())),
                    await _best(1, bare),
                )
                for _ in range(repeat)
            ]
            ours = statistics.median(p[0] for p in pairs)
            theirs = statistics.median(p[1] for p in pairs)
        print(
            f"virtual query over PostgreSQL, {rows:,} rows: {ours * 1000:.0f} ms; psycopg "
            f"fetchall {theirs * 1000:.0f} ms; ratio {theirs / ours:.2f}x (target >= 0.7)"
        )
    finally:
        await products.aclose()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


async def _materialised(root: Path, rows: int, repeat: int, samples: int) -> None:
    files = root / "files"
    files.mkdir()
    ids = pa.array(range(1, rows + 1), pa.int64())
    table = pa.table(
        {
            "id": ids,
            "status": pa.array(["open", "shipped"] * (rows // 2) + ["open"] * (rows % 2)),
            "amount": pa.array([float(i % 1000) for i in range(rows)]),
            "placed_at": pa.array(range(rows), pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, files / "orders.parquet")
    system = (
        "apiVersion: interlink/v1\nkind: System\nmetadata: {name: drop}\nspec:\n"
        f"  domain: bench\n  connector: directory\n  connection: {{root: {files}}}\n"
    )
    products = _estate(
        root, system, "{system: drop, type: parquet, location: orders.parquet}", "materialised"
    )
    try:
        began = time.perf_counter()
        await products.refresh("orders")
        refreshed = time.perf_counter() - began
        query = ProductQuery(
            filters=(Filter("status", Op.EQ, "open"), Filter("amount", Op.GT, 500.0)),
            order_by=("id",),
            limit=100,
        )
        first = await products.query("orders", query, Policy())
        after = first.next_cursor
        for _ in range(9):
            page = await products.query(
                "orders", ProductQuery(query.columns, query.filters, query.order_by, 100, after)
            )
            after = page.next_cursor
        paged = ProductQuery(query.columns, query.filters, query.order_by, 100, after)
        ours = await _best(repeat, lambda: products.query("orders", paged, Policy()))
        current = root / "data" / "orders" / "data.parquet"
        db = duckdb.connect()
        bare_sql = (
            f"SELECT * FROM read_parquet('{current}') WHERE status = 'open' AND amount > 500 "
            "ORDER BY id LIMIT 100 OFFSET 1000"
        )

        async def bare() -> None:
            db.sql(bare_sql).to_arrow_table()

        theirs = await _best(repeat, bare)
        print(
            f"materialised product, {rows:,} rows (refresh {refreshed:.1f} s): 11th filtered "
            f"page of 100 {ours * 1000:.1f} ms; bare DuckDB {theirs * 1000:.1f} ms; ratio "
            f"{theirs / ours:.2f}x"
        )
        bare_times = await _times(samples, bare)
        ours_times = await _times(samples, lambda: products.query("orders", paged, Policy()))
        print(f"  {samples} samples, against bare DuckDB: {_latencies(ours_times, bare_times)}")
        await _through_gateway(products, encode_cursor(1000), theirs, repeat, bare_times)
    finally:
        await products.aclose()


async def _through_gateway(
    products: Products, cursor: str, bare: float, repeat: int, bare_times: list[float]
) -> None:
    config = compile_gateway(products.estate(), services=GatewayServices(products=products))
    assert not config.unserved, config.unserved_line()
    server = GatewayServer(config)
    sock = bind("127.0.0.1:0")
    port = sock.getsockname()[1]
    await server.start(sock)
    url = f"http://127.0.0.1:{port}/data/orders"
    params = {"status": "open", "filter": "amount:gt:500", "sort": "id", "limit": "100"}
    params["cursor"] = cursor
    try:
        async with httpx.AsyncClient() as client:
            for media in ("application/json", "application/vnd.apache.arrow.stream"):
                headers = {"accept": media}

                async def get(headers: dict[str, str] = headers) -> None:
                    response = await client.get(url, params=params, headers=headers)
                    assert response.status_code == 200, response.text

                await get()
                took = await _best(repeat, get)
                print(
                    f"  through the gateway as {media}: {took * 1000:.1f} ms; bare DuckDB "
                    f"{bare * 1000:.1f} ms; ratio {bare / took:.2f}x"
                )
                times = await _times(len(bare_times), get)
                print(f"    {len(times)} samples: {_latencies(times, bare_times)}")
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--samples", type=int, default=200, help="for the p50 and p99")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_postgres(Path(folder, "pg"), args.rows, args.repeat))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder, "mat")
        root.mkdir()
        asyncio.run(_materialised(root, args.big, args.repeat, args.samples))


if __name__ == "__main__":
    main()
