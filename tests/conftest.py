"""Fixtures shared by every test suite."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from interlink.expressions import ENGINE_ENV, Engine, available_engines
from interlink.testing.services import postgres_reachable, postgres_url, require_service

# --- JSONata engines -------------------------------------------------------------------------


@pytest.fixture(params=available_engines())
def jsonata_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Each installed JSONata engine in turn, chosen through the environment, so that what
    the test starts (child processes too) evaluates with it. A module whose behaviour rests on
    expressions says ``pytestmark = pytest.mark.usefixtures("jsonata_engine")``."""
    engine: Engine = request.param
    monkeypatch.setenv(ENGINE_ENV, engine)
    return engine


# --- databases -------------------------------------------------------------------------------


@functools.cache
def _postgres_status(url: str) -> bool | str:
    # Probed once per run: a down server would otherwise cost a connect timeout per test.
    return postgres_reachable(url)


@pytest.fixture
def postgres_server_url() -> str:
    """The test PostgreSQL server; skips (or fails, in CI) when it is down."""
    url = postgres_url()
    require_service("PostgreSQL", lambda: _postgres_status(url))
    return url


@pytest.fixture
def pg_url(postgres_server_url: str) -> Iterator[str]:
    """A store URL on a fresh schema of its own, dropped with everything in it afterwards."""
    schema = f"il_test_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in postgres_server_url else "?"
    yield f"{postgres_server_url}{separator}schema={schema}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL on each backend in turn, so one suite covers both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'interlink.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


# --- estates and processes -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _gateway_on_a_free_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """`interlink serve` also opens the gateway (8080 in the example estate): tests that start
    it take any free port instead, so they never collide with each other or the machine."""
    monkeypatch.setenv("INTERLINK_GATEWAY_LISTEN", "127.0.0.1:0")


@pytest.fixture
def retail_dir(tmp_path: Path) -> Path:
    """A fresh copy of the retail example estate."""
    from interlink.cli.estate import write_example

    target = tmp_path / "estate"
    write_example("retail", target)
    return target
