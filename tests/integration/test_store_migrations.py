"""Migrations kept per concern still form one global version order: a database migrated when
every migration sat in one folder per dialect opens and migrates without re-running anything."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from interlink.errors import MigrationError
from interlink.events.bus import Message
from interlink.events.delivery.queues import open_queue
from interlink.store import open_store
from interlink.store.migrations import Dialect, Migration, load_migrations, split_sqlite_script
from interlink.store.postgres import parse_postgres_url

# The versions and names the single-folder layout recorded in interlink_migrations.
OLD_LAYOUT = [
    ("0001", "init"),
    ("0002", "deliveries"),
    ("0003", "consumer_keys"),
    ("0004", "shadow_comparisons"),
    ("0005", "observed_connections"),
    ("0006", "consumer_keys_version"),
]
T0 = datetime(2025, 3, 14, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_recorded_versions_keep_their_numbers_and_names(dialect: Dialect) -> None:
    migrations = load_migrations(dialect)
    assert [(m.version, m.name) for m in migrations][: len(OLD_LAYOUT)] == OLD_LAYOUT
    # 0001 created revisions and admin tokens in one file; its two parts still run together.
    (init,) = [m for m in migrations if m.version == "0001"]
    assert [part.path.split("/")[-3] for part in init.parts] == ["revisions", "admin_tokens"]


def _migrate_like_the_old_layout(url: str, migrations: list[Migration]) -> None:
    """Apply each version's SQL outside the store and record it as the old runner did."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute(
                "CREATE TABLE interlink_migrations ("
                "version TEXT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            for migration, (version, name) in zip(migrations, OLD_LAYOUT, strict=True):
                for part in migration.parts:
                    for statement in split_sqlite_script(part.sql):
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO interlink_migrations VALUES (?, ?, ?)",
                    (version, name, T0.isoformat(timespec="microseconds")),
                )
        finally:
            conn.close()
        return
    target = parse_postgres_url(url)
    assert target.schema is not None
    with psycopg.connect(target.conninfo, autocommit=True) as pg:
        pg.execute(
            sql.SQL("CREATE SCHEMA {0}; SET search_path TO {0}").format(
                sql.Identifier(target.schema)
            )
        )
        pg.execute(
            "CREATE TABLE interlink_migrations (version TEXT PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        for migration, (version, name) in zip(migrations, OLD_LAYOUT, strict=True):
            for part in migration.parts:
                pg.execute(part.sql.encode())
            pg.execute("INSERT INTO interlink_migrations VALUES (%s, %s, %s)", (version, name, T0))


@pytest.mark.anyio
async def test_a_database_migrated_by_the_old_layout_migrates_without_rerunning(
    store_url: str,
) -> None:
    dialect: Dialect = "sqlite" if store_url.startswith("sqlite") else "postgres"
    old = load_migrations(dialect)[: len(OLD_LAYOUT)]
    _migrate_like_the_old_layout(store_url, old)

    with open_store(store_url) as store:
        # Re-running any recorded version would fail on its CREATE TABLE.
        assert store.migrate() == [m.version for m in load_migrations(dialect)[len(OLD_LAYOUT) :]]
        store.revisions.record("h", "alice", "file", {}, {})
        assert store.revisions.latest() is not None
        store.tokens.create("admin", "root")
        assert store.tokens.has_admin()
        before = store.consumer_keys.version()
        store.consumer_keys.create("mobile-app", "app")
        assert store.consumer_keys.version() > before

    async with open_queue(store_url) as queue:
        message = Message(
            type="order.created", seq=1, id="e1", source="shop", key=None, body=b"{}", stored_at=T0
        )
        assert await queue.enqueue("billing-hooks", [message], T0) == 1
        assert await queue.depth("billing-hooks") == 1


def _write(root: Path, path: str, sql: str = "SELECT 1;") -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(sql)


def test_files_of_several_concerns_share_a_version_only_under_one_name(tmp_path: Path) -> None:
    _write(tmp_path, "a/sqlite/0001_init.sql", "CREATE TABLE a (x INTEGER);")
    _write(tmp_path, "b/sqlite/0001_init.sql", "CREATE TABLE b (x INTEGER);")
    _write(tmp_path, "b/sqlite/0002_more.sql")
    migrations = load_migrations("sqlite", ("a", "b"), tmp_path)
    assert [(m.version, m.name, len(m.parts)) for m in migrations] == [
        ("0001", "init", 2),
        ("0002", "more", 1),
    ]
    assert [part.path for part in migrations[0].parts] == [
        "a/sqlite/0001_init.sql",
        "b/sqlite/0001_init.sql",
    ]

    _write(tmp_path, "a/sqlite/0002_other.sql")
    with pytest.raises(MigrationError, match=r"a/sqlite/0002_other\.sql and b/sqlite/0002_more"):
        load_migrations("sqlite", ("a", "b"), tmp_path)


def test_a_misnamed_migration_file_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "a/sqlite/1_init.sql")
    with pytest.raises(MigrationError, match=r"a/sqlite/1_init\.sql must be named NNNN_"):
        load_migrations("sqlite", ("a",), tmp_path)
