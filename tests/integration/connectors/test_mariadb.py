"""The MariaDB connector against the test server, in a database of its own per test."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Iterator
from typing import Any

import asyncmy
import pytest

from interlink.connectors.base import ConnectionFailed, ConnectorError
from interlink.connectors.connections import Connections
from interlink.connectors.mariadb import MariaDbConnector
from interlink.testing.connectors import run_conformance
from interlink.testing.services import mariadb_config, mariadb_reachable, require_service

pytestmark = pytest.mark.mariadb


@functools.cache
def _status() -> bool | str:
    return mariadb_reachable(mariadb_config())


async def _admin(statement: str) -> None:
    server = mariadb_config()
    conn = await asyncmy.connect(
        host=server["host"],
        port=server["port"],
        user=server["user"],
        password=server.get("password", ""),
        autocommit=True,
    )
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def config() -> Iterator[dict[str, Any]]:
    """A connection config on a fresh database, dropped afterwards."""
    require_service("MariaDB", _status)
    database = f"il_conn_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f"CREATE DATABASE `{database}`"))
    yield {**mariadb_config(), "database": database, "connectTimeout": 5}
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS `{database}`"))


def test_conformance(config: dict[str, Any]) -> None:
    passed = asyncio.run(run_conformance(MariaDbConnector(), config))
    assert passed[-1] == "errors"
    assert len(passed) == 8


def test_types_and_json(config: dict[str, Any]) -> None:
    async def go() -> list[dict[str, Any]]:
        conn = await MariaDbConnector().open(config, "shop")
        try:
            await conn.query(
                "CREATE TABLE docs (id INT PRIMARY KEY, body JSON, at DATETIME, n DECIMAL(6,2), "
                "name VARCHAR(20))",
                {},
            )
            await conn.write(
                "docs",
                [
                    {
                        "id": 1,
                        "body": {"a": [1, 2]},
                        "at": "2026-01-02 03:04:05",
                        "n": 2.5,
                        "name": "Zoë",
                    }
                ],
            )
            return await conn.query(
                "SELECT id, JSON_EXTRACT(body, '$.a[1]') AS second, at, n, name FROM docs "
                "WHERE name = :name",
                {"name": "Zoë"},
            )
        finally:
            await conn.close()

    (row,) = asyncio.run(go())
    assert row == {"id": 1, "second": "2", "at": "2026-01-02T03:04:05", "n": 2.5, "name": "Zoë"}


def test_refused_credentials_are_a_clear_error_without_the_secret(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = f"il_u_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-one'"))
    try:
        monkeypatch.setenv("INTERLINK_SECRET_SHOP_PW", "wrong-one-xyz")
        connection = {**config, "user": user, "password": "${secret:shop-pw}"}
        with pytest.raises(ConnectorError) as caught:
            asyncio.run(Connections().get("shop", "mariadb", connection))
        error = caught.value
        assert isinstance(error, ConnectionFailed)
        assert error.message.startswith(f"System/shop ({config['host']}:{config['port']}): ")
        assert "(1045) Access denied for user" in error.message
        assert "wrong-one-xyz" not in error.message
        assert not error.retryable
    finally:
        asyncio.run(_admin(f"DROP USER IF EXISTS '{user}'@'%'"))


def test_a_closed_port_is_retryable(config: dict[str, Any]) -> None:
    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(MariaDbConnector().open({**config, "port": 1}, "shop"))
    assert caught.value.message.startswith("System/shop (127.0.0.1:1)")
    assert caught.value.retryable


def test_a_host_that_does_not_resolve_names_system_and_host(config: dict[str, Any]) -> None:
    bad = {**config, "host": "il-no-such-host.invalid"}
    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(MariaDbConnector().open(bad, "shop"))
    assert caught.value.message.startswith("System/shop (il-no-such-host.invalid:3306): ")
