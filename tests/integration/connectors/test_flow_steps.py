"""Flows with query and write steps, run by the real engine on a real SQLite database (the
PostgreSQL and MariaDB connectors pass the same conformance kit)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.connectors.base import Connection, Connector, ConnectorError
from interlink.connectors.connections import Connections
from interlink.connectors.observed import CallFlusher
from interlink.connectors.registry import Registry, registry
from interlink.connectors.spec import ConnectorSpec
from interlink.connectors.sqlite import SPEC as SQLITE
from interlink.estate.check import check_estate
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.estate.kinds.organisation import System
from interlink.flows.calls import system_targets
from interlink.flows.data import ConnectorTransport, system_lookup
from interlink.flows.engine import FlowEngine
from interlink.flows.retry import RetryPolicy
from interlink.flows.runs import FlowRuns
from interlink.store import Store, open_store

FAST = RetryPolicy(attempts=3, initial=0.01, cap=0.01)

ESTATE = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: data}
---
apiVersion: interlink/v1
kind: System
metadata: {name: shop, owner: data}
spec:
  domain: data
  connector: sqlite
  connection:
    path: DB
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: import-orders, owner: data}
spec:
  trigger: {manual: true}
  steps:
    - name: save
      type: write
      system: shop
      table: orders
      mode: upsert
      key: [id]
      rows: "orders.{'id': id, 'customer': customer, 'total': total}"
      batchSize: 2
    - name: totals
      type: query
      system: shop
      sql: >
        SELECT customer, SUM(total) AS total FROM orders
        WHERE total >= :least GROUP BY customer ORDER BY customer
      params: "{'least': least}"
      into: totals
    - name: biggest
      type: query
      system: shop
      sql: SELECT id FROM orders ORDER BY total DESC LIMIT 1
      one: true
      into: biggest
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        opened.migrate()
        yield opened


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total REAL)"
        )
    conn.close()
    return path


def _engine(
    tmp_path: Path,
    store: Store,
    db: Path,
    text: str = ESTATE,
    transport: ConnectorTransport | None = None,
) -> FlowEngine:
    root = tmp_path / "estate"
    root.mkdir()
    (root / "estate.yaml").write_text(text.replace("DB", str(db)), encoding="utf-8")
    result = check_estate(root, connectors=registry())
    assert result.ok, [f.render(root) for f in result.errors]
    estate = result.estate

    def spec(name: str) -> FlowSpec:
        item = estate.get("Flow", name)
        assert item is not None
        assert isinstance(item.obj, Flow)
        return item.obj.spec

    return FlowEngine(
        FlowRuns(store.db),
        spec,
        system_targets(estate),
        data=transport or ConnectorTransport(system_lookup(estate)),
        retry=FAST,
    )


ORDERS = {
    "least": 10,
    "orders": [
        {"id": 1, "customer": "ada", "total": 30},
        {"id": 2, "customer": "ada", "total": 5},
        {"id": 3, "customer": "bob", "total": 12.5},
    ],
}


def test_a_flows_reads_and_writes_are_observed_connections(
    tmp_path: Path, store: Store, db: Path
) -> None:
    transport = ConnectorTransport(lambda name: _system(name, db))

    async def go() -> list[Any]:
        engine = _engine(tmp_path, store, db, transport=transport)
        flusher = CallFlusher(transport.connections.calls, store)
        try:
            runs = [await engine.start_and_run("import-orders", ORDERS)]
            refused = {**ORDERS, "orders": [{"id": 9, "customer": None, "total": 1}]}
            runs.append(await engine.start_and_run("import-orders", refused))  # NOT NULL
            assert await flusher.flush() == 2  # (flow, System, direction, operation) keys
            runs.append(await engine.start_and_run("import-orders", ORDERS))
        finally:
            await engine.aclose()
            await flusher.stop()
        return runs

    first, refused, again = asyncio.run(go())
    assert (first.status, refused.status, again.status) == ("completed", "failed", "completed")
    calls = {
        (c.caller, c.system, c.direction, c.operation): c for c in store.connector_calls.list()
    }
    assert set(calls) == {
        ("import-orders", "shop", "write", "write"),
        ("import-orders", "shop", "read", "query"),
    }
    written = calls["import-orders", "shop", "write", "write"]
    # Two flushes added up: three writes of 3, 1 (refused) and 3 rows.
    assert (written.calls, written.volume, written.errors) == (3, 6, 1)
    read = calls["import-orders", "shop", "read", "query"]
    # Two queries a completed run: 2 totals and 1 biggest row each time.
    assert (read.calls, read.volume, read.errors) == (4, 6, 0)


def _system(name: str, db: Path) -> System:
    assert name == "shop"
    return System.model_validate(
        {
            "apiVersion": "interlink/v1",
            "kind": "System",
            "metadata": {"name": "shop", "owner": "data"},
            "spec": {"domain": "data", "connector": "sqlite", "connection": {"path": str(db)}},
        }
    )


def test_a_flow_writes_and_queries(tmp_path: Path, store: Store, db: Path) -> None:
    async def go() -> Any:
        engine = _engine(tmp_path, store, db)
        try:
            first = await engine.start_and_run("import-orders", ORDERS)
            again = {**ORDERS, "orders": [{"id": 3, "customer": "bob", "total": 50}]}
            second = await engine.start_and_run("import-orders", again)
            return first, second
        finally:
            await engine.aclose()

    first, second = asyncio.run(go())
    assert first.status == "completed", first.error
    message = first.context["message"]
    assert message["totals"] == [
        {"customer": "ada", "total": 30.0},
        {"customer": "bob", "total": 12.5},
    ]
    assert message["biggest"] == {"id": 1}
    assert first.context["steps"]["save"] == {"table": "orders", "mode": "upsert", "rows": 3}
    assert second.status == "completed", second.error
    assert second.context["message"]["biggest"] == {"id": 3}  # upserted, not duplicated
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (3,)
    conn.close()


def test_a_constraint_violation_fails_the_run_once_and_names_system_and_table(
    tmp_path: Path, store: Store, db: Path
) -> None:
    async def go() -> Any:
        engine = _engine(tmp_path, store, db)
        try:
            bad = {"least": 0, "orders": [{"id": 9, "customer": None, "total": 1}]}
            return await engine.start_and_run("import-orders", bad)
        finally:
            await engine.aclose()

    run = asyncio.run(go())
    assert run.status == "failed"
    assert run.error is not None
    assert "step save failed: System/shop (orders):" in run.error
    assert "NOT NULL constraint failed: orders.customer" in run.error
    (record,) = [s for s in FlowRuns(store.db).steps(run.id) if s.name == "save"]
    assert record.status == "failed"
    assert record.attempts == 1  # a refused row does not change on retry
    assert record.error is not None
    assert "NOT NULL" in record.error


def test_an_unknown_table_fails_the_run(tmp_path: Path, store: Store, db: Path) -> None:
    text = ESTATE.replace("table: orders", "table: order_lines")

    async def go() -> Any:
        engine = _engine(tmp_path, store, db, text)
        try:
            return await engine.start_and_run("import-orders", ORDERS)
        finally:
            await engine.aclose()

    run = asyncio.run(go())
    assert run.status == "failed"
    assert "System/shop (order_lines): no such table: order_lines" in (run.error or "")


def test_an_engine_without_connectors_refuses_sql_flows(
    tmp_path: Path, store: Store, db: Path
) -> None:
    engine = _engine(tmp_path, store, db)
    bare = FlowEngine(FlowRuns(store.db), engine._flows, lambda _: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(
        Exception, match="has SQL or file steps, and this engine reaches no connector"
    ):
        asyncio.run(bare.start("import-orders", ORDERS))


# --- one connection per System ---------------------------------------------------------------


def test_connections_are_kept_reopened_on_change_and_closed(tmp_path: Path) -> None:
    async def go() -> None:
        connections = Connections()
        first = await connections.get("a", "sqlite", {"path": str(tmp_path / "a.db")})
        assert await connections.get("a", "sqlite", {"path": str(tmp_path / "a.db")}) is first
        changed = await connections.get("a", "sqlite", {"path": str(tmp_path / "b.db")})
        assert changed is not first
        with pytest.raises(sqlite3.ProgrammingError):  # the old one was closed
            await first.inner.query("SELECT 1", {})  # type: ignore[attr-defined]
        await connections.get("b", "sqlite", {"path": str(tmp_path / "c.db")})
        await connections.retain(["b"])
        assert connections.systems() == ["b"]
        await connections.aclose()
        assert connections.systems() == []

    asyncio.run(go())


class _Leaky(Connector):
    """A connector that puts its password in its error messages, as a careless one might."""

    spec = ConnectorSpec(
        name="leaky",
        title="Leaky",
        description="Says too much.",
        interface="sql",
        config={
            "type": "object",
            "properties": {
                "password": {"type": "string", "writeOnly": True, "description": "a secret"}
            },
        },
        capabilities=SQLITE.capabilities,
        example="kind: System\nspec: {connector: leaky, connection: {}}\n",
    )

    async def open(self, config: Any, system: str) -> Connection:
        raise ConnectorError(f"login with {config['password']} refused", system=system)


def test_secrets_never_reach_an_error_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_LEAKY_PW", "s3cr3t-value")
    connections = Connections(Registry([_Leaky()]))
    with pytest.raises(ConnectorError) as caught:
        asyncio.run(connections.get("x", "leaky", {"password": "${secret:leaky-pw}"}))
    assert caught.value.message == "System/x: login with *** refused"


def test_a_plain_text_secret_is_refused_before_connecting() -> None:
    connections = Connections(Registry([_Leaky()]))
    with pytest.raises(Exception, match=r"connection\.password: is a secret"):
        asyncio.run(connections.get("x", "leaky", {"password": "plain"}))


# --- on a serving node ------------------------------------------------------------------------


def test_a_node_runs_sql_flows_and_a_reload_closes_a_removed_system(
    tmp_path: Path, db: Path
) -> None:
    from interlink.runtime.flows import FlowRunner
    from interlink.runtime.runtime import Runtime
    from interlink.runtime.settings import ServeSettings

    root = tmp_path / "estate"
    root.mkdir()
    estate = root / "estate.yaml"
    estate.write_text(ESTATE.replace("DB", str(db)), encoding="utf-8")
    runtime = Runtime.open(ServeSettings(root, store_url=f"sqlite:///{tmp_path / 'node.db'}"))

    async def go() -> None:
        runner = FlowRunner(runtime)
        try:
            run = await runner.engine.start_and_run("import-orders", ORDERS)
            assert run.status == "completed", run.error
            assert runner.data.connections.systems() == ["shop"]
            # The flow and the System go: the System's connection is closed at the reload.
            kept = ESTATE.split("---", maxsplit=1)[0]
            estate.write_text(kept, encoding="utf-8")
            result = await runtime.reload("test")
            assert result.ok, result.findings
            assert runner.data.connections.systems() == []
        finally:
            await runner.close()

    try:
        asyncio.run(go())
    finally:
        runtime.store.close()
