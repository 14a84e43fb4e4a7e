"""The PostgreSQL connector against the test server, in a schema of its own per test."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from interlink.connectors.base import ConnectionFailed, ConnectorError
from interlink.connectors.connections import Connections
from interlink.connectors.postgresql import PostgresConnector
from interlink.connectors.registry import registry
from interlink.estate.check import check_estate
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.flows.calls import system_targets
from interlink.flows.data import ConnectorTransport, system_lookup
from interlink.flows.engine import FlowEngine
from interlink.flows.runs import FlowRun, FlowRuns
from interlink.store import Store, open_store
from interlink.testing.connectors import run_conformance

pytestmark = pytest.mark.postgres


@pytest.fixture
def config(postgres_server_url: str) -> Iterator[dict[str, Any]]:
    """A connection config whose search_path is a fresh schema, dropped afterwards."""
    parts = urlsplit(postgres_server_url)
    schema = f"il_conn_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "database": parts.path.lstrip("/") or "test",
        "user": parts.username or "postgres",
        "schema": schema,
        "connectTimeout": 5,
    }
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_conformance(config: dict[str, Any]) -> None:
    passed = asyncio.run(run_conformance(PostgresConnector(), config))
    assert passed[-1] == "errors"
    assert len(passed) == 8


def test_types_casts_and_json(config: dict[str, Any]) -> None:
    async def go() -> list[dict[str, Any]]:
        conn = await PostgresConnector().open(config, "warehouse")
        try:
            await conn.query(
                "CREATE TABLE docs (id uuid PRIMARY KEY, body jsonb, at timestamptz, n numeric)",
                {},
            )
            await conn.write(
                "docs",
                [
                    {
                        "id": "7b0c4c7e-8a52-4c43-9d0e-3b1d2f0c9a11",
                        "body": {"a": [1, 2]},
                        "at": "2026-01-02T03:04:05Z",
                        "n": 2.5,
                    }
                ],
            )
            return await conn.query(
                "SELECT id, body, at, n, :k::text AS k, body->>'a' AS a FROM docs",
                {"k": "x"},
            )
        finally:
            await conn.close()

    (row,) = asyncio.run(go())
    assert row == {
        "id": "7b0c4c7e-8a52-4c43-9d0e-3b1d2f0c9a11",
        "body": {"a": [1, 2]},
        "at": "2026-01-02T03:04:05+00:00",
        "n": 2.5,
        "k": "x",
        "a": "[1, 2]",
    }


def test_refused_credentials_are_a_clear_error_without_the_secret(
    config: dict[str, Any], postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = f"il_role_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} NOLOGIN PASSWORD 'right-one'").format(sql.Identifier(role))
        )
    try:
        monkeypatch.setenv("INTERLINK_SECRET_PG_PW", "wrong-one-xyz")
        connection = {**config, "user": role, "password": "${secret:pg-pw}", "host": "localhost"}
        connections = Connections()
        with pytest.raises(ConnectorError) as caught:
            asyncio.run(connections.get("billing", "postgresql", connection))
        # The test server trusts local logins, so the role is refused for lacking LOGIN.
        error = caught.value
        assert isinstance(error, ConnectionFailed)
        assert error.message.startswith("System/billing (localhost:")
        assert f'role "{role}" is not permitted to log in' in error.message
        assert "wrong-one-xyz" not in error.message
        assert not error.retryable
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_an_unknown_database_is_refused_not_retried(config: dict[str, Any]) -> None:
    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(PostgresConnector().open({**config, "database": "il_no_such_db"}, "billing"))
    assert caught.value.message.startswith("System/billing (")
    assert 'database "il_no_such_db" does not exist' in caught.value.message
    assert not caught.value.retryable


def test_a_closed_port_is_retryable(config: dict[str, Any]) -> None:
    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(PostgresConnector().open({**config, "port": 1}, "billing"))
    assert caught.value.message.startswith("System/billing (127.0.0.1:1)")
    assert caught.value.retryable


FLOW = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: data}
---
apiVersion: interlink/v1
kind: System
metadata: {name: billing, owner: data}
spec:
  domain: data
  connector: postgresql
  connection: CONNECTION
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: invoice, owner: data}
spec:
  trigger: {manual: true}
  steps:
    - name: save
      type: write
      system: billing
      table: invoices
      rows: "{'id': id, 'amount': amount}"
    - name: check
      type: query
      system: billing
      sql: SELECT id, amount FROM invoices WHERE id = :id
      params: "{'id': id}"
      one: true
      retry: {attempts: 3, initial: 10ms}
"""


def test_a_dropped_connection_is_retried_and_a_refused_row_is_not(
    config: dict[str, Any], postgres_server_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "estate"
    root.mkdir()
    (root / "estate.yaml").write_text(FLOW.replace("CONNECTION", json.dumps(config)))
    result = check_estate(root, connectors=registry())
    assert result.ok, [f.render(root) for f in result.errors]
    estate = result.estate
    transport = ConnectorTransport(system_lookup(estate))

    def spec(name: str) -> FlowSpec:
        item = estate.get("Flow", name)
        assert item is not None
        assert isinstance(item.obj, Flow)
        return item.obj.spec

    async def go(store: Store) -> tuple[FlowRun, FlowRun]:
        engine = FlowEngine(FlowRuns(store.db), spec, system_targets(estate), data=transport)
        try:
            conn = await transport.connections.get("billing", "postgresql", config)
            await conn.query("CREATE TABLE invoices (id int PRIMARY KEY, amount numeric)", {})
            (backend,) = await conn.query("SELECT pg_backend_pid() AS pid", {})
            # The pooled connection dies under the flow, as in a server restart.
            with psycopg.connect(postgres_server_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (backend["pid"],))
            good = await engine.start_and_run("invoice", {"id": 1, "amount": 9.5})
            duplicate = await engine.start_and_run("invoice", {"id": 1, "amount": 3})
            return good, duplicate
        finally:
            await engine.aclose()

    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate()
        good, duplicate = asyncio.run(go(store))
        runs = FlowRuns(store.db)
        assert good.status == "completed", good.error
        assert good.context["message"] == {"id": 1, "amount": 9.5}
        attempts = {s.name: s.attempts for s in runs.steps(good.id)}
        # The write met the dead connection first (transient: tried again), the query did not.
        assert attempts == {"save": 2, "check": 1}
        assert duplicate.status == "failed"
        assert "System/billing (invoices): duplicate key value" in (duplicate.error or "")
        assert {s.name: s.attempts for s in runs.steps(duplicate.id)} == {"save": 1}
    assert transport.connections.systems() == []  # closed with the engine


def test_a_host_that_does_not_resolve_names_system_and_host(config: dict[str, Any]) -> None:
    bad = {**config, "host": "il-no-such-host.invalid"}
    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(PostgresConnector().open(bad, "billing"))
    assert caught.value.message.startswith("System/billing (il-no-such-host.invalid:5432): ")
