"""Poll triggers over real databases (SQLite, PostgreSQL, MariaDB) and a real HTTP API: rows
sharing a cursor value across batch boundaries are each read once, rows added while polling
are found, a restarted poller goes on from its checkpoint (in a SQLite and a PostgreSQL store),
bad input is one clear line."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncmy
import psycopg
import pytest
from psycopg import sql

from interlink.connectors.base import ConnectorError, ObjectNotFound
from interlink.connectors.connections import Connections
from interlink.estate.kinds.organisation import SystemCredentials
from interlink.flows.triggers import Batch, Poller, TriggerCheckpoints
from interlink.flows.triggers.api import ApiSource
from interlink.flows.triggers.table import TableSource
from interlink.store import Store
from interlink.testing.services import mariadb_config, mariadb_reachable, require_service

pytestmark = pytest.mark.anyio

Run = Callable[[str], Awaitable[None]]  # runs one statement on the database under test


class Database:
    """A database of one kind for one test: its connector, connection, and a way to run SQL."""

    def __init__(self, connector: str, connection: dict[str, Any], run: Run, ts: str) -> None:
        self.connector = connector
        self.connection = connection
        self.run = run
        self.ts = ts  # the column type of a timestamp with microseconds

    def source(self, **kwargs: Any) -> TableSource:
        kwargs.setdefault("cursor", "at")
        kwargs.setdefault("key", ("id",))
        kwargs.setdefault("table", "orders")
        return TableSource(
            "shop", self.connector, self.connection, connections=Connections(), **kwargs
        )


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    path = tmp_path / "shop.db"

    async def run(statement: str) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute(statement)

    return Database("sqlite", {"path": str(path)}, run, "TEXT")


@pytest.fixture
def postgres_db(postgres_server_url: str) -> Iterator[Database]:
    parts = urlsplit(postgres_server_url)
    schema = f"il_poll_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))

    async def run(statement: str) -> None:
        async with await psycopg.AsyncConnection.connect(
            postgres_server_url, autocommit=True, options=f"-c search_path={schema}"
        ) as conn:
            await conn.execute(statement.encode())

    yield Database(
        "postgresql",
        {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "database": parts.path.lstrip("/") or "test",
            "user": parts.username or "postgres",
            "schema": schema,
        },
        run,
        "TIMESTAMPTZ",
    )
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


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
def mariadb_db() -> Iterator[Database]:
    require_service("MariaDB", lambda: mariadb_reachable(mariadb_config()))
    database = f"il_poll_{uuid.uuid4().hex[:12]}"
    asyncio.run(_mariadb(f"CREATE DATABASE `{database}`"))

    async def run(statement: str) -> None:
        await _mariadb(statement, database)

    yield Database("mariadb", {**mariadb_config(), "database": database}, run, "DATETIME(6)")
    asyncio.run(_mariadb(f"DROP DATABASE IF EXISTS `{database}`"))


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def db(request: pytest.FixtureRequest) -> Database:
    found: Database = request.getfixturevalue(f"{request.param}_db")
    return found


async def orders(db: Database, cursor_type: str = "INTEGER") -> None:
    await db.run(
        f"CREATE TABLE orders (id INTEGER NOT NULL PRIMARY KEY, at {cursor_type} NOT NULL, "
        "note VARCHAR(40))"
    )


async def insert(db: Database, rows: list[tuple[int, Any]]) -> None:
    literal = {i: f"'{at}'" if isinstance(at, str) else str(at) for i, at in rows}
    values = ", ".join(f"({i}, {literal[i]}, 'n{i}')" for i, _ in rows)
    await db.run(f"INSERT INTO orders (id, at, note) VALUES {values}")


async def drain(source: TableSource, cursor: Any, limit: int) -> tuple[list[str], Any]:
    """Poll as the poller does until a batch says no more; the keys read and the cursor."""
    keys: list[str] = []
    while True:
        batch: Batch = await source.poll(cursor, limit)
        keys += [item.key for item in batch.items]
        cursor = batch.cursor
        if not batch.more:
            return keys, cursor


def ids(keys: list[str]) -> list[int]:
    return [json.loads(key.split(":")[1])[0] for key in keys]


async def test_equal_cursor_values_across_batches_are_each_read_once(db: Database) -> None:
    await orders(db)
    # Seven rows share cursor 5: batches of 3 cut through them twice.
    await insert(db, [(i, 5) for i in range(10, 17)] + [(1, 1), (2, 9), (3, 9)])
    source = db.source()
    keys, cursor = await drain(source, None, 3)
    assert ids(keys) == [1, *range(10, 17), 2, 3]
    assert cursor == {"at": 9, "key": [3]}
    # Added while polling: one more at the last cursor value, past the last key; one before
    # the last key (a late row of an old value is behind the cursor: a documented blind spot).
    await insert(db, [(4, 9), (20, 12), (0, 9)])
    more, cursor = await drain(source, cursor, 3)
    assert ids(more) == [4, 20]
    assert len(set(keys + more)) == len(keys + more)
    again, _ = await drain(source, cursor, 3)
    assert again == []


async def test_timestamp_cursor_and_json_rows(db: Database) -> None:
    await orders(db, db.ts)
    same = "2026-03-01 10:00:00.250001"
    await insert(db, [(i, same) for i in range(1, 6)] + [(9, "2026-03-01 10:00:01")])
    source = db.source()
    keys, cursor = await drain(source, None, 2)
    assert ids(keys) == [1, 2, 3, 4, 5, 9]
    assert cursor["at"].startswith("2026-03-01")
    await insert(db, [(10, "2026-03-01 10:00:01"), (11, "2026-03-02 00:00:00")])
    more, _ = await drain(source, cursor, 2)
    assert ids(more) == [10, 11]
    batch = await source.poll(None, 1)
    row = batch.items[0].input
    assert row["id"] == 1
    assert row["note"] == "n1"
    assert isinstance(row["at"], str)
    assert "10:00:00.250001" in row["at"]
    json.dumps(row)  # the run's input: JSON as it is


async def test_an_updated_row_is_a_new_run_and_start_now_skips_the_past(db: Database) -> None:
    await orders(db)
    await insert(db, [(1, 1), (2, 2)])
    source = db.source(start="now")
    first = await source.poll(None, 10)
    assert list(first.items) == []
    assert first.cursor == {"at": 2, "key": [2]}
    await db.run("UPDATE orders SET at = 3 WHERE id = 1")
    keys, _ = await drain(source, first.cursor, 10)
    assert keys == ["orders:[1]:3"]
    # start from a value: inclusive
    keys, _ = await drain(db.source(start=2), None, 10)
    assert ids(keys) == [2, 1]


async def test_a_query_is_polled_like_a_table(db: Database) -> None:
    await orders(db)
    await insert(db, [(1, 1), (2, 2), (3, 3)])
    source = db.source(table=None, query="SELECT id, at, note FROM orders WHERE id <> 2")
    keys, _ = await drain(source, None, 1)
    assert keys == ["query:[1]:1", "query:[3]:3"]


async def test_a_missing_table_or_column_names_the_system_and_table(db: Database) -> None:
    with pytest.raises(ObjectNotFound) as missing:
        await db.source(table="nope").poll(None, 10)
    assert missing.value.message.startswith("System/shop (nope): ")
    await orders(db)
    await insert(db, [(1, 1)])
    with pytest.raises(ConnectorError) as column:
        await db.source(cursor="updated").poll(None, 10)
    assert column.value.message.startswith("System/shop (orders): ")
    assert "updated" in column.value.message


# --- through the poller: checkpoints, restarts, back-off ------------------------------------


class Recorder:
    """The poller's ``start``: each run id it is given, in order."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, Any]] = []

    async def __call__(self, flow: str, input: Any, trigger: str, run_id: str) -> str:
        self.runs.append((run_id, input))
        return run_id

    @property
    def unique(self) -> list[Any]:
        """The inputs of the distinct runs: a run id given again records no second run."""
        return list(dict(self.runs).values())

    async def until(self, count: int) -> None:
        while len(self.unique) < count:
            await asyncio.sleep(0.01)


async def test_a_restarted_poller_goes_on_from_its_checkpoint(db: Database, store: Store) -> None:
    await orders(db)
    await insert(db, [(i, i // 4) for i in range(1, 11)])
    recorded = Recorder()
    checkpoints = TriggerCheckpoints(store.db)

    def poller() -> Poller:
        return Poller(
            "ingest", "shop.orders", db.source(), recorded, checkpoints, interval=0.01, limit=3
        )

    first = poller()
    await first.start()
    await recorded.until(10)
    while (saved := checkpoints.get("ingest:shop.orders")) is None or saved.cursor != {
        "at": 2,
        "key": [10],
    }:
        await asyncio.sleep(0.01)
    await first.close()
    await insert(db, [(11, 2), (12, 3)])
    second = poller()
    await second.start()
    await recorded.until(12)
    await second.close()
    # Read once each: the second poller began after row 10, from the stored checkpoint.
    assert [run[1]["id"] for run in recorded.runs] == list(range(1, 13))
    assert len({run[0] for run in recorded.runs}) == 12


async def test_a_failing_table_backs_off_with_one_log_line(
    db: Database, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "interlink.flows.triggers")
    recorded = Recorder()
    poller = Poller(
        "ingest",
        "shop.nope",
        db.source(table="nope"),
        recorded,
        TriggerCheckpoints(store.db),
        interval=0.01,
        retry_initial=0.01,
        retry_limit=0.02,
    )
    await poller.start()
    while poller.backoff.failures < 3:
        await asyncio.sleep(0.01)
    await poller.close()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1
    assert "Flow/ingest trigger shop.nope: polling failed: System/shop (nope): " in lines[0]
    assert recorded.runs == []


# --- an HTTP API, paged -------------------------------------------------------------------


class PagedApi:
    """A loopback API: GET /items?after=<id> answers up to 2 items after it and a next
    cursor while more follow; it wants the bearer token."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.seen: list[str] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        target = head.split(" ")[1]
        self.seen.append(target)
        status, body = 200, b""
        if "authorization: bearer s3cret" not in head.lower():
            status = 401
        else:
            query = parse_qs(urlsplit(target).query)
            after = int(query.get("after", ["0"])[0])
            page = [i for i in self.items if i["id"] > after][:2]
            more = len([i for i in self.items if i["id"] > after]) > 2
            answer = {"data": page, "next": page[-1]["id"] if more else None}
            body = json.dumps(answer).encode()
        writer.write(
            b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, len(body), body)
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def api() -> AsyncIterator[PagedApi]:
    paged = PagedApi()
    paged.server = await asyncio.start_server(paged.handle, "127.0.0.1", 0)
    yield paged
    paged.server.close()
    await paged.server.wait_closed()


def bearer(monkeypatch: pytest.MonkeyPatch, token: str) -> SystemCredentials:
    monkeypatch.setenv("IL_TEST_CRM_TOKEN", token)
    return SystemCredentials.model_validate(
        {"scheme": "bearer", "token": "${env:IL_TEST_CRM_TOKEN}"}
    )


def api_source(api: PagedApi, credentials: SystemCredentials, **kwargs: Any) -> ApiSource:
    return ApiSource(
        "crm",
        api.url,
        "/items",
        items="data",
        key="$string(id) & '@' & updated",
        cursor="next",
        param="after",
        credentials=credentials,
        **kwargs,
    )


async def test_an_http_api_is_polled_page_by_page(
    api: PagedApi, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.items = [{"id": i, "updated": "a"} for i in range(1, 6)]
    recorded = Recorder()
    source = api_source(api, bearer(monkeypatch, "s3cret"))
    poller = Poller("ingest", "crm", source, recorded, TriggerCheckpoints(store.db), interval=0.01)
    await poller.start()
    await recorded.until(5)
    api.items.append({"id": 6, "updated": "b"})
    await recorded.until(6)
    await poller.close()
    await source.aclose()
    # The last page is read again each interval: its items find their runs.
    assert [item["id"] for item in recorded.unique] == [1, 2, 3, 4, 5, 6]
    assert "/items" in api.seen
    assert "/items?after=2" in api.seen
    assert "/items?after=4" in api.seen
    saved = TriggerCheckpoints(store.db).get("ingest:crm")
    assert saved is not None
    assert saved.cursor == {"page": 4}


async def test_an_http_api_refusing_is_one_clear_error(
    api: PagedApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = ApiSource(
        "crm",
        api.url,
        "/items",
        items="data",
        key="id",
        credentials=bearer(monkeypatch, "wrong"),
    )
    with pytest.raises(ConnectorError) as refused:
        await source.poll(None, 10)
    await source.aclose()
    assert refused.value.message == "System/crm (GET /items): GET /items answered 401"
