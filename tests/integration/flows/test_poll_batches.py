"""A poll trigger with ``each: batch``: one run per poll holding its rows, keyed so that a batch
polled again after a crash finds its run; and `serve` copying a PostgreSQL table into MariaDB
through such a flow, each row once, its reads and writes counted as observed connections."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncmy
import psycopg
import pytest
from psycopg import sql

from interlink.flows.triggers import Poller, TriggerCheckpoints
from interlink.flows.triggers.checkpoints import Fence
from interlink.flows.triggers.table import TableSource
from interlink.store import Store, open_store
from interlink.testing.processes import InterlinkProcess, free_port
from interlink.testing.services import mariadb_config, mariadb_reachable, require_service
from tests.integration.flows.test_engine import write_estate

pytestmark = pytest.mark.anyio


class CrashOnce(TriggerCheckpoints):
    """Checkpoints whose first save fails, as a process killed after recording the runs."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.db)
        self.failed = False

    def save(
        self, trigger_id: str, cursor: Any, items: int, fence: Fence | None, holder: str
    ) -> None:
        if not self.failed:
            self.failed = True
            raise OSError("killed")
        super().save(trigger_id, cursor, items, fence, holder)


async def test_a_batch_is_one_run_and_found_again_after_a_crash(
    tmp_path: Path, store: Store
) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, version INTEGER)")
        conn.executemany("INSERT INTO orders VALUES (?, 1)", [(i,) for i in range(1, 6)])
    source = TableSource(
        "shop", "sqlite", {"path": str(db)}, "version", ("id",), table="orders", flow="copy"
    )
    recorded: dict[str, Any] = {}
    calls: list[str] = []

    async def start(flow: str, input: Any, trigger: str, run_id: str) -> str:
        calls.append(run_id)
        recorded.setdefault(run_id, input)
        return run_id

    checkpoints = CrashOnce(store)
    poller = Poller(
        "copy", "orders", source, start, checkpoints, interval=0.01, limit=3, each="batch",
        retry_initial=0.01,
    )  # fmt: skip
    await poller.start()
    try:
        deadline = time.monotonic() + 10
        while (found := checkpoints.get(poller.id)) is None or found.cursor["key"] != [5]:
            assert time.monotonic() < deadline, recorded
            await asyncio.sleep(0.01)
    finally:
        await poller.close()
        await source.connections.aclose()
    # The first batch was recorded twice (before and after the failed save): one run.
    assert calls[0] == calls[1]
    runs = list(recorded.values())
    assert [[r["id"] for r in run["rows"]] for run in runs] == [[1, 2, 3], [4, 5]]
    assert runs[0]["cursor"] == {"at": 1, "key": [3]}
    assert runs[0]["first"] == "orders:[1]:1"
    assert runs[0]["last"] == "orders:[3]:1"


FLOW = """---
apiVersion: interlink/v1
kind: System
metadata: {{name: source, owner: ops}}
spec:
  domain: sales
  connector: postgresql
  connection: {{host: {pg_host}, port: {pg_port}, database: {pg_db}, user: {pg_user},
    schema: {schema}}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: target, owner: ops}}
spec:
  domain: sales
  connector: mariadb
  connection: {{host: "{my_host}", port: {my_port}, database: {database}, user: {my_user}}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: copy-orders, owner: ops}}
spec:
  trigger:
    poll:
      system: source
      table: orders
      cursor: id
      key: [id]
      interval: 100ms
      batch: 40
      each: batch
  steps:
    - name: save
      type: write
      system: target
      table: orders
      rows: rows
      mode: upsert
      key: [id]
      batchSize: 15
"""


async def _mariadb(statement: str, database: str | None = None) -> list[Any]:
    server = mariadb_config()
    conn = await asyncmy.connect(
        host=server["host"],
        port=server["port"],
        user=server["user"],
        password=server.get("password", ""),
        database=database,
        autocommit=True,
    )
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement)
            return list(await cursor.fetchall())
    finally:
        conn.close()


@pytest.fixture
def databases(postgres_server_url: str) -> Iterator[tuple[str, str]]:
    """A PostgreSQL schema and a MariaDB database, each with a table orders."""
    require_service("MariaDB", lambda: mariadb_reachable(mariadb_config()))
    name = f"il_batch_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE TABLE {}.orders (id INT PRIMARY KEY, note TEXT)").format(
                sql.Identifier(name)
            )
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.orders SELECT n, 'n' || n FROM generate_series(1, 100) n"
            ).format(sql.Identifier(name))
        )
    asyncio.run(_mariadb(f"CREATE DATABASE `{name}`"))
    asyncio.run(_mariadb("CREATE TABLE orders (id INT PRIMARY KEY, note TEXT)", name))
    try:
        yield name, name
    finally:
        asyncio.run(_mariadb(f"DROP DATABASE IF EXISTS `{name}`"))
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_serve_copies_postgresql_into_mariadb_a_batch_a_run(
    tmp_path: Path, postgres_server_url: str, databases: tuple[str, str], store_url: str
) -> None:
    schema, database = databases
    pg = urlsplit(postgres_server_url)
    server = mariadb_config()
    flows = FLOW.format(
        pg_host=pg.hostname or "127.0.0.1",
        pg_port=pg.port or 5432,
        pg_db=pg.path.lstrip("/") or "test",
        pg_user=pg.username or "postgres",
        schema=schema,
        my_host=server["host"],
        my_port=server["port"],
        my_user=server["user"],
        database=database,
    )
    root = write_estate(tmp_path / "estate", "http://127.0.0.1:9", flows)
    proc = InterlinkProcess(
        ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}"]
    ).start()
    try:
        proc.wait_for("Flow/copy-orders trigger source.orders started")
        deadline = time.monotonic() + 30
        while asyncio.run(_mariadb("SELECT COUNT(*) FROM orders", database))[0][0] < 100:
            assert time.monotonic() < deadline, proc.output
            time.sleep(0.05)
    finally:
        assert proc.stop() == 0
    rows = asyncio.run(_mariadb("SELECT id, note FROM orders ORDER BY id", database))
    assert [tuple(r) for r in rows] == [(n, f"n{n}") for n in range(1, 101)]
    with open_store(store_url) as store, store.db.session() as session:
        runs = session.fetchall("SELECT COUNT(*) FROM flow_runs WHERE flow = ?", ("copy-orders",))
        calls = {(c.caller, c.system, c.operation): c for c in store.connector_calls.list()}
    assert runs[0][0] == 3  # 40 + 40 + 20 rows
    polled = calls["copy-orders", "source", "poll"]
    assert (polled.direction, polled.volume, polled.errors) == ("read", 100, 0)
    written = calls["copy-orders", "target", "write"]
    assert (written.direction, written.calls, written.volume) == ("write", 3, 100)
    assert "Traceback" not in proc.output


async def test_batch_runs_are_chained_and_the_poller_waits_for_the_one_before(
    tmp_path: Path, store: Store
) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, version INTEGER)")
        conn.executemany("INSERT INTO orders VALUES (?, 1)", [(i,) for i in range(1, 8)])
    source = TableSource("shop", "sqlite", {"path": str(db)}, "version", ("id",), table="orders")
    polls: list[Any] = []
    poll = source.poll

    async def counted(cursor: Any, limit: int) -> Any:
        polls.append(cursor)
        return await poll(cursor, limit)

    object.__setattr__(source, "poll", counted)

    class Runner:
        def __init__(self) -> None:
            self.recorded: list[tuple[list[int], int | None]] = []
            self.ids: list[str] = []
            self.ended: dict[str, asyncio.Event] = {}

        async def start_after(
            self, flow: str, input: Any, trigger: str, run_id: str, after: str | None
        ) -> str:
            rows = [r["id"] for r in input["rows"]]
            self.recorded.append((rows, self.ids.index(after) if after else None))
            self.ids.append(run_id)
            self.ended[run_id] = asyncio.Event()
            return run_id

        async def finished(self, run_id: str) -> None:
            await self.ended[run_id].wait()

    async def no_start(flow: str, input: Any, trigger: str, run_id: str) -> str:
        raise AssertionError("a batch trigger in order records through start_after")

    runner = Runner()
    poller = Poller(
        "copy", "orders", source, no_start, TriggerCheckpoints(store.db), interval=0.01, limit=3,
        each="batch", in_order=runner,
    )  # fmt: skip
    await poller.start()

    async def until(condition: Any) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, (runner.recorded, polls)
            await asyncio.sleep(0.01)

    try:
        # The second batch is read and recorded to run after the first run ...
        await until(lambda: len(runner.recorded) == 2)
        await asyncio.sleep(0.05)
        assert len(polls) == 2  # ... and the third is not read before the first run ended.
        runner.ended[runner.ids[0]].set()
        await until(lambda: len(runner.recorded) == 3)
    finally:
        await poller.close()
        await source.connections.aclose()
    assert runner.recorded == [([1, 2, 3], None), ([4, 5, 6], 0), ([7], 1)]
