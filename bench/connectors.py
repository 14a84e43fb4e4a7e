"""Connectors under load: a flow moving data between Systems vs a plain script doing the same.

    .venv/bin/python bench/connectors.py [--rows 1000000] [--batch 10000] [--rounds 1]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--mariadb 127.0.0.1:3306]
        [--store postgresql://...] [--messages 5000] [--concurrency 16] [--prefetch 32]
        [--scenario cdc|amqp|mqtt]...

One function per scenario (:data:`SCENARIOS`), each measuring the product and its plain
reference in the same round, so a shared machine's load falls on both alike; ``--rounds``
rounds, the median printed with the range. Figures are printed, never asserted.

*cdc*: polling change data capture of a PostgreSQL table of ``--rows`` rows (built with
``generate_series`` in a schema of its own) into a MariaDB table (in a database of its own;
both dropped after).

- *flow*: `interlink serve` (a child process, as deployed; its store SQLite in a temporary
  folder, or in a schema of its own on the PostgreSQL of ``--store``) runs a Flow whose
  ``trigger.poll`` reads the table by its id (``batch: --batch``, ``each: batch``: one run per
  poll) and whose ``write`` step upserts the run's rows into MariaDB in transactions of
  ``--batch`` rows. The clock starts when the trigger says it started and stops when every row
  is in MariaDB (its count looked at when its largest id is there, by the primary key: the
  look costs the server next to nothing). The CPU seconds the server spent meanwhile are
  printed too: less noisy than the rates on a shared machine.
- *plain*: a script with the same drivers (psycopg 3, asyncmy) reading the same keyset pages
  and upserting them with the same statement the connector writes, a page read ahead while
  the last one is written: the ceiling, with no run recorded, no JSON, no checkpoint.

*amqp*, *mqtt*: ``--messages`` messages preloaded into a queue (RabbitMQ) or a topic (a private
Mosquitto) consumed by `interlink serve` through a Flow's ``trigger.consume`` whose ``call``
step POSTs each to a webhook receiver, against a plain consumer with the same driver POSTing
and acking each (``bench/connectors_consume.py``, which also runs on its own).

The ratio is flow / plain; the goal is at least 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncmy
import psycopg
from psycopg import sql

from connectors_consume import cpu_line, process_cpu, run_amqp, run_mqtt
from interlink.store.postgres import parse_postgres_url
from interlink.testing.processes import InterlinkProcess, free_port

#: The columns of the copied table, in PostgreSQL and in MariaDB.
PG_TABLE = """CREATE TABLE {}.orders (
    id BIGINT PRIMARY KEY, customer_id INT NOT NULL, status TEXT NOT NULL,
    amount NUMERIC(12, 2) NOT NULL, note TEXT NOT NULL)"""
PG_FILL = """INSERT INTO {}.orders SELECT n, n %% 5000,
    (ARRAY['new', 'paid', 'shipped'])[n %% 3 + 1], (n %% 100000) / 100.0,
    'order number ' || n FROM generate_series(1, %s) n"""
MY_TABLE = """CREATE TABLE {} (
    id BIGINT PRIMARY KEY, customer_id INT NOT NULL, status VARCHAR(16) NOT NULL,
    amount DECIMAL(12, 2) NOT NULL, note VARCHAR(64) NOT NULL)"""
COLUMNS = ("id", "customer_id", "status", "amount", "note")
#: The statement the MariaDB connector writes for an upsert by id (connectors/mariadb_client.py).
UPSERT = (
    "INSERT INTO `{}` (`id`, `customer_id`, `status`, `amount`, `note`) VALUES (%s, %s, %s, "
    "%s, %s) ON DUPLICATE KEY UPDATE `customer_id` = VALUES(`customer_id`), `status` = "
    "VALUES(`status`), `amount` = VALUES(`amount`), `note` = VALUES(`note`)"
)

ESTATE = """apiVersion: interlink/v1
kind: Platform
metadata: {{name: platform}}
spec:
  store: {{url: "{store}"}}
---
apiVersion: interlink/v1
kind: Team
metadata: {{name: ops}}
spec: {{}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: shop, owner: ops}}
spec:
  domain: sales
  connector: postgresql
  connection: {{host: "{pg_host}", port: {pg_port}, database: {pg_db}, user: {pg_user},
    schema: {schema}}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: warehouse, owner: ops}}
spec:
  domain: sales
  connector: mariadb
  connection: {{host: "{my_host}", port: {my_port}, database: {database}, user: root}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: orders-cdc, owner: ops}}
spec:
  trigger:
    poll:
      system: shop
      table: orders
      cursor: id
      key: [id]
      interval: 1s
      batch: {batch}
      each: batch
  steps:
    - name: save
      type: write
      system: warehouse
      table: orders_flow
      rows: rows
      mode: upsert
      key: [id]
      batchSize: {batch}
"""


@dataclass(frozen=True)
class Result:
    """One round of one scenario: the product's rate and its plain reference's, per second,
    and the CPU seconds each spent (less noisy than the rates on a shared machine)."""

    unit: str
    product: float
    plain: float
    product_cpu: float | None
    plain_cpu: float | None
    note: str = ""  # what the round was checked against (a receiver's capacity)


@dataclass(frozen=True)
class Servers:
    postgres: str
    mariadb_host: str
    mariadb_port: int
    store: str | None


Scenario = Callable[[argparse.Namespace, Servers], Awaitable[Result]]


# --- cdc: PostgreSQL -> flow -> MariaDB -----------------------------------------------------


async def _mariadb(servers: Servers, database: str | None = None) -> Any:
    return await asyncmy.connect(
        host=servers.mariadb_host,
        port=servers.mariadb_port,
        user="root",
        password="",
        database=database,
        autocommit=True,
    )


async def _my_execute(servers: Servers, statement: str, database: str | None = None) -> list[Any]:
    conn = await _mariadb(servers, database)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement)
            return list(await cursor.fetchall())
    finally:
        conn.close()


async def plain_copy(servers: Servers, schema: str, database: str, batch: int) -> int:
    """Copy the table as a script would: keyset pages, upserted a page a transaction, the
    next page read while the last is written."""
    pages: asyncio.Queue[list[tuple[Any, ...]] | None] = asyncio.Queue(maxsize=2)
    select = sql.SQL(
        "SELECT id, customer_id, status, amount, note FROM {}.orders WHERE id > %s "
        "ORDER BY id LIMIT %s"
    ).format(sql.Identifier(schema))

    async def read() -> None:
        async with await psycopg.AsyncConnection.connect(servers.postgres) as conn:
            last = 0
            while True:
                cursor = await conn.execute(select, (last, batch))
                rows = await cursor.fetchall()
                await conn.commit()
                if not rows:
                    break
                await pages.put(rows)
                last = rows[-1][0]
        await pages.put(None)

    reader = asyncio.create_task(read())
    written = 0
    conn = await _mariadb(servers, database)
    try:
        statement = UPSERT.format("orders_plain")
        while (rows := await pages.get()) is not None:
            await conn.begin()
            async with conn.cursor() as cursor:
                await cursor.executemany(statement, rows)
            await conn.commit()
            written += len(rows)
    finally:
        conn.close()
        await reader
    return written


async def flow_copy(
    servers: Servers, schema: str, database: str, rows: int, batch: int, folder: Path
) -> tuple[float, float]:
    """Serve the estate until every row is in MariaDB; the seconds it took, and the CPU
    seconds the server spent meanwhile."""
    pg = urlsplit(servers.postgres)
    store = f"sqlite:///{folder / 'store.db'}"
    if servers.store is not None:  # a schema of its own, dropped by the caller
        store = f"{servers.store}{'&' if '?' in servers.store else '?'}schema={schema}"
    (folder / "estate").mkdir()
    (folder / "estate" / "estate.yaml").write_text(
        ESTATE.format(
            store=store,
            pg_host=pg.hostname or "127.0.0.1",
            pg_port=pg.port or 5432,
            pg_db=pg.path.lstrip("/") or "test",
            pg_user=pg.username or "postgres",
            schema=schema,
            my_host=servers.mariadb_host,
            my_port=servers.mariadb_port,
            database=database,
            batch=batch,
        )
    )
    proc = InterlinkProcess(
        ["serve", str(folder / "estate"), "--admin-listen", f"127.0.0.1:{free_port()}"],
        env={"INTERLINK_GATEWAY_LISTEN": "127.0.0.1:0"},
    ).start()
    try:
        await asyncio.to_thread(proc.wait_for, "Flow/orders-cdc trigger shop.orders started", 60)
        started = time.perf_counter()
        assert proc.proc is not None
        cpu = process_cpu(proc.proc.pid)
        conn = await _mariadb(servers, database)
        try:
            while True:
                async with conn.cursor() as cursor:
                    await cursor.execute("SELECT MAX(id) FROM orders_flow")
                    (top,) = await cursor.fetchone()
                    if top == rows:
                        await cursor.execute("SELECT COUNT(*) FROM orders_flow")
                        (count,) = await cursor.fetchone()
                        if count == rows:
                            break
                if proc.proc is not None and proc.proc.poll() is not None:
                    raise RuntimeError(f"interlink serve stopped:\n{proc.output[-3000:]}")
                await asyncio.sleep(0.05)
            took = time.perf_counter() - started
            cpu = process_cpu(proc.proc.pid) - cpu
        finally:
            conn.close()
    finally:
        code = await asyncio.to_thread(proc.stop, 60)
    if code != 0 or "Traceback" in proc.output:
        raise RuntimeError(f"interlink serve failed:\n{proc.output[-3000:]}")
    return took, cpu


async def cdc(args: argparse.Namespace, servers: Servers) -> Result:
    name = f"bench_cdc_{secrets.token_hex(4)}"
    made = False
    async with await psycopg.AsyncConnection.connect(servers.postgres, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        async with await psycopg.AsyncConnection.connect(servers.postgres, autocommit=True) as conn:
            await conn.execute(sql.SQL(PG_TABLE).format(sql.Identifier(name)))
            fill = sql.SQL(PG_FILL).format(sql.Identifier(name))
            await conn.execute(fill, (args.rows,))
            await conn.execute(sql.SQL("ANALYZE {}.orders").format(sql.Identifier(name)))
        await _my_execute(servers, f"CREATE DATABASE `{name}`")
        made = True
        for table in ("orders_plain", "orders_flow"):
            await _my_execute(servers, MY_TABLE.format(f"`{table}`"), name)
        started, cpu = time.perf_counter(), time.process_time()
        copied = await plain_copy(servers, name, name, args.batch)
        plain, plain_cpu = time.perf_counter() - started, time.process_time() - cpu
        assert copied == args.rows, copied
        with tempfile.TemporaryDirectory() as folder:
            took, flow_cpu = await flow_copy(
                servers, name, name, args.rows, args.batch, Path(folder)
            )
        return Result("rows/s", args.rows / took, args.rows / plain, flow_cpu, plain_cpu)
    finally:
        if made:
            await _my_execute(servers, f"DROP DATABASE `{name}`")
        drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
        async with await psycopg.AsyncConnection.connect(servers.postgres, autocommit=True) as conn:
            await conn.execute(drop)
        if servers.store is not None:  # the flows' store, in a schema of the same name
            store = parse_postgres_url(servers.store)
            async with await psycopg.AsyncConnection.connect(
                store.conninfo, autocommit=True
            ) as conn:
                await conn.execute(drop)


async def amqp(args: argparse.Namespace, servers: Servers) -> Result:
    """One round of bench/connectors_consume.py's AMQP scenario (RabbitMQ)."""
    found = await asyncio.to_thread(
        run_amqp, args.messages, 1, concurrency=args.concurrency, prefetch=args.prefetch
    )
    return _consumed(found)


async def mqtt(args: argparse.Namespace, servers: Servers) -> Result:
    """One round of bench/connectors_consume.py's MQTT scenario (a private Mosquitto)."""
    found = await asyncio.to_thread(run_mqtt, args.messages, 1, concurrency=args.concurrency)
    return _consumed(found)


def _consumed(found: dict[str, Any]) -> Result:
    fastest = max(*found["plain"], *found["interlink"])
    note = f"receiver alone {found['receiver']:,.0f} POSTs/s = {found['receiver'] / fastest:.1f}x"
    note += f"; {cpu_line(found)}"
    return Result("msg/s", found["interlink"][0], found["plain"][0], None, None, note)


#: Each scenario by name: a function measuring the product and its reference once, in the same
#: round: an async function of (args, servers) returning a Result, and a line here.
SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "cdc": ("PostgreSQL table -> flow (poll, each: batch; write upsert) -> MariaDB", cdc),
    "amqp": ("RabbitMQ queue -> flow (consume; call) -> webhook, vs aio-pika consumer", amqp),
    "mqtt": ("Mosquitto topic -> flow (consume; call) -> webhook, vs aiomqtt consumer", mqtt),
}


def _summary(values: list[float]) -> str:
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:,.0f}"
    return f"{middle:,.0f} ({min(values):,.0f}-{max(values):,.0f})"


async def main_async(args: argparse.Namespace) -> None:
    host, _, port = args.mariadb.partition(":")
    servers = Servers(args.postgres, host, int(port or 3306), args.store)
    for name in args.scenario:
        title, scenario = SCENARIOS[name]
        results = [await scenario(args, servers) for _ in range(args.rounds)]
        unit = results[0].unit
        ratios = [r.product / r.plain for r in results]
        size = (
            f"{args.rows:,} rows, batches of {args.batch:,}"
            if name == "cdc"
            else f"{args.messages:,} messages, concurrency {args.concurrency}"
        )
        print(f"{name}: {title}; {size}")
        plain_line = f"  plain         {_summary([r.plain for r in results])} {unit}"
        flow_line = f"  flow          {_summary([r.product for r in results])} {unit}"
        if results[0].plain_cpu is not None:
            plain_cpu = statistics.median(r.plain_cpu or 0.0 for r in results)
            flow_cpu = statistics.median(r.product_cpu or 0.0 for r in results)
            plain_line += f"  ({plain_cpu:.1f} CPU s)"
            flow_line += f"  ({flow_cpu:.1f} CPU s in interlink serve)"
        print(plain_line)
        print(flow_line)
        ratio = statistics.median(ratios)
        print(f"  ratio         {ratio:.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
        for result in results:
            if result.note:
                print(f"  {result.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per poll and per write")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--mariadb", default="127.0.0.1:3306", help="host:port, user root")
    parser.add_argument("--store", help="the flows' store (default: SQLite in a temp folder)")
    parser.add_argument("--messages", type=int, default=5000, help="amqp, mqtt: per round")
    parser.add_argument("--concurrency", type=int, default=16, help="amqp, mqtt: in flight")
    parser.add_argument("--prefetch", type=int, default=32, help="amqp")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="default: all"
    )
    args = parser.parse_args()
    args.scenario = args.scenario or sorted(SCENARIOS)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
