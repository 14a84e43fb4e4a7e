"""Data products over a real PostgreSQL and MariaDB, read by the connectors' own drivers, and
their refresh history on a PostgreSQL store."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncmy
import psycopg
import pytest
from psycopg import sql

from interlink.estate.loader import load_estate
from interlink.products.filters import parse_filter
from interlink.products.history import RefreshHistory
from interlink.products.query import Policy, ProductQuery
from interlink.products.service import Products
from interlink.store import open_store
from interlink.testing.services import mariadb_config, mariadb_reachable, require_service

PRODUCT = """\
apiVersion: interlink/v1
kind: System
metadata: {name: db}
spec:
  domain: sales
  connector: %(connector)s
  connection: %(connection)s
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: orders}
spec:
  domain: sales
  source: {system: db, type: sql, location: orders}
  mode: %(mode)s
%(refresh)s
  contract:
    columns:
      - {name: id, type: integer, nullable: false, unique: true}
      - {name: status, type: string, allowed: [open, shipped]}
      - {name: amount, type: number, minimum: 0}
      - {name: placed_at, type: timestamp}
"""

ROWS = "(1, 'open', 10.50, '2026-01-01 10:00:00'), (2, 'shipped', 5, '2026-01-02 10:00:00')"


def _products(tmp_path: Path, connector: str, config: dict[str, Any], **more: str) -> Products:
    text = PRODUCT % {
        "connector": connector,
        "connection": json.dumps(config),
        "mode": more.get("mode", "virtual"),
        "refresh": more.get("refresh", ""),
    }
    (tmp_path / "estate").mkdir(exist_ok=True)
    (tmp_path / "estate" / "products.yaml").write_text(text)
    estate, findings = load_estate(tmp_path / "estate")
    assert not [f for f in findings if f.severity == "error"]
    history = None
    if "store" in more:
        store = open_store(more["store"])
        store.migrate()
        history = RefreshHistory(store.db)
    return Products(lambda: estate, tmp_path / "data", history=history)


async def _filtered_query(products: Products) -> None:
    """The filters run in the source (status IN, amount >), the rows come back typed."""
    try:
        query = ProductQuery(
            filters=(parse_filter("status=in:open,shipped"), parse_filter("amount=gt:6"))
        )
        rows = (await products.query("orders", query, Policy())).table.to_pylist()
        assert rows == [
            {
                "id": 1,
                "status": "open",
                "amount": 10.5,
                "placed_at": datetime(2026, 1, 1, 10, tzinfo=UTC),
            }
        ]
    finally:
        await products.aclose()


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def postgres_source(postgres_server_url: str) -> Iterator[tuple[dict[str, Any], str]]:
    parts = urlsplit(postgres_server_url)
    schema = f"il_prod_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.orders (id INTEGER PRIMARY KEY, status TEXT, amount NUMERIC(8,2), "
                "placed_at TIMESTAMPTZ)"
            ).format(sql.Identifier(schema))
        )
        conn.execute(sql.SQL("INSERT INTO {}.orders VALUES " + ROWS).format(sql.Identifier(schema)))
    yield (
        {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "database": parts.path.lstrip("/") or "test",
            "user": parts.username or "postgres",
            "schema": schema,
        },
        schema,
    )
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.postgres
def test_a_postgres_source(
    tmp_path: Path,
    postgres_source: tuple[dict[str, Any], str],
    pg_url: str,
    postgres_server_url: str,
) -> None:
    config, schema = postgres_source
    products = _products(tmp_path, "postgresql", config)
    asyncio.run(_filtered_query(products))

    # Materialised, incremental by id, its history on a PostgreSQL store.
    refresh = "  refresh: {schedule: '0 * * * *', cursor: id}"
    products = _products(
        tmp_path, "postgresql", config, mode="materialised", refresh=refresh, store=pg_url
    )

    async def go() -> tuple[int, int]:
        try:
            await products.refresh("orders")
            with psycopg.connect(postgres_server_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.orders VALUES (3, 'open', 1, '2026-01-03 10:00:00+00')"
                    ).format(sql.Identifier(schema))
                )
            record = await products.refresh("orders")
            return record.rows_total, record.rows_added
        finally:
            await products.aclose()

    assert asyncio.run(go()) == (3, 1)
    assert products.history is not None
    assert [r.outcome for r in products.history.recent("orders")] == ["ok", "ok"]
    assert products.history.last("orders", "ok").cursor == "3"  # type: ignore[union-attr]


# --- MariaDB ---------------------------------------------------------------------------------


async def _mariadb(statement: str, database: str | None = None) -> None:
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
    finally:
        conn.close()


@pytest.fixture
def mariadb_source() -> Iterator[dict[str, Any]]:
    require_service("MariaDB", lambda: mariadb_reachable(mariadb_config()))
    database = f"il_prod_{uuid.uuid4().hex[:12]}"
    asyncio.run(_mariadb(f"CREATE DATABASE `{database}`"))
    asyncio.run(
        _mariadb(
            "CREATE TABLE orders (id INT PRIMARY KEY, status VARCHAR(20), amount DECIMAL(8,2), "
            "placed_at DATETIME)",
            database,
        )
    )
    asyncio.run(_mariadb("INSERT INTO orders VALUES " + ROWS, database))
    yield {**mariadb_config(), "database": database}
    asyncio.run(_mariadb(f"DROP DATABASE IF EXISTS `{database}`"))


@pytest.mark.mariadb
def test_a_mariadb_source(tmp_path: Path, mariadb_source: dict[str, Any]) -> None:
    products = _products(tmp_path, "mariadb", mariadb_source)
    asyncio.run(_filtered_query(products))
