"""The SQLite connector against real database files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from interlink.connectors.base import ConnectionFailed, StatementError, Unsupported
from interlink.connectors.sqlite import SqliteConnector
from interlink.testing.connectors import run_conformance


def test_conformance(tmp_path: Path) -> None:
    passed = asyncio.run(run_conformance(SqliteConnector(), {"path": str(tmp_path / "c.db")}))
    assert passed == [
        "spec",
        "insert",
        "parameters",
        "upsert",
        "update",
        "constraints",
        "batches",
        "errors",
    ]


def test_values_come_back_as_json(tmp_path: Path) -> None:
    async def go() -> list[dict[str, object]]:
        conn = await SqliteConnector().open({"path": str(tmp_path / "v.db")}, "local")
        try:
            await conn.query("CREATE TABLE t (doc TEXT, raw BLOB)", {})
            await conn.write("t", [{"doc": {"a": [1, 2]}, "raw": None}])
            await conn.query("UPDATE t SET raw = x'00ff'", {})
            return await conn.query("SELECT doc, raw FROM t", {})
        finally:
            await conn.close()

    assert asyncio.run(go()) == [{"doc": '{"a":[1,2]}', "raw": "AP8="}]


def test_a_read_only_database_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER)")
    db.close()

    async def go() -> None:
        conn = await SqliteConnector().open({"path": str(path), "readOnly": True}, "archive")
        try:
            await conn.write("t", [{"id": 1}])
        finally:
            await conn.close()

    with pytest.raises(Unsupported) as caught:
        asyncio.run(go())
    assert "System/archive (t)" in caught.value.message
    assert "readonly" in caught.value.message


def test_a_file_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    async def go() -> None:
        path = tmp_path / "missing" / "x.db"
        await SqliteConnector().open({"path": str(path), "readOnly": True}, "archive")

    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(go())
    assert caught.value.message.startswith("System/archive: cannot open")


def test_question_marks_are_refused(tmp_path: Path) -> None:
    async def go() -> None:
        conn = await SqliteConnector().open({"path": str(tmp_path / "q.db")}, "local")
        try:
            await conn.query("SELECT ?", {})
        finally:
            await conn.close()

    with pytest.raises(StatementError, match="use :name parameters"):
        asyncio.run(go())
