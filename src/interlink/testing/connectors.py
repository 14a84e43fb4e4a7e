# The table names are the kit's own random ones; no pytest here (a plain AssertionError).
# ruff: noqa: S608, PT017
"""The conformance kit for connectors: the checks every connector of an interface passes, run
against a live System.

A connector's own tests call :func:`run_conformance` with a live connection config (references
already resolved)::

    from interlink.testing.connectors import run_conformance

    async def test_conformance() -> None:
        await run_conformance(MyConnector(), {"host": "127.0.0.1", ...})

It checks the spec (every config field documented, secrets write-only strings, the example
System's connection valid) and, for a SQL connector, the interface on a table of its own (named
``il_conformance_<random>``, dropped afterwards): named parameters bound by the driver and left
alone inside string literals, insert/upsert/update by key, one transaction per batch, row limits,
and the errors (a constraint violation, an unknown table, a missing parameter, each naming the
System and the object, none retryable). For a file connector it works under a prefix of its
own (``il-conformance-<random>/``, emptied afterwards): whole files written atomically and read
back, listings by prefix (sorted, sizes, subdirectories, no temporary files), moves and deletes,
and the errors (a missing file, a path leaving the root). A failed check is an AssertionError
saying which.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import yaml

from interlink.connectors.base import (
    Connection,
    Connector,
    ConnectorError,
    ConstraintViolation,
    ObjectNotFound,
    StatementError,
)

SYSTEM = "conformance"


def check_spec(connector: Connector) -> None:
    """The spec's own rules, and its example System valid for it."""
    spec = connector.spec
    example = yaml.safe_load(spec.example)
    assert example.get("kind") == "System", f"{spec.name}: the example is not a System"
    system = example.get("spec") or {}
    if spec.name != "http":
        assert system.get("connector") == spec.name, f"{spec.name}: the example names another"
        problems = spec.problems(system.get("connection") or {})
        assert not problems, f"{spec.name}: the example's connection is invalid: {problems}"
    assert spec.capabilities, f"{spec.name}: declares no capability"


async def _expect(
    kind: type[ConnectorError], what: str, operation: Callable[[], Awaitable[Any]], name: str
) -> ConnectorError:
    try:
        await operation()
    except ConnectorError as exc:
        assert isinstance(exc, kind), f"{what}: expected {kind.__name__}, got {exc!r}"
        assert f"System/{SYSTEM}" in exc.message, f"{what}: the error names no System: {exc}"
        assert not exc.retryable, f"{what}: a permanent failure is marked retryable"
        assert name in exc.message, f"{what}: the error does not name {name}: {exc}"
        return exc
    raise AssertionError(f"{what}: no error")


async def run_conformance(connector: Connector, config: Mapping[str, Any]) -> list[str]:
    """Run every check; the names of the checks passed."""
    check_spec(connector)
    passed = ["spec"]
    if connector.spec.interface == "files":
        connection = await connector.open(connector.spec.defaults(config), SYSTEM)
        try:
            passed.extend(await _file_checks(connection, f"il-conformance-{uuid.uuid4().hex[:8]}"))
        finally:
            await connection.close()
        return passed
    if connector.spec.interface != "sql":
        return passed
    connection = await connector.open(connector.spec.defaults(config), SYSTEM)
    table = f"il_conformance_{uuid.uuid4().hex[:10]}"
    try:
        await connection.query(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, "
            "amount NUMERIC(10, 2), note VARCHAR(200))",
            {},
        )
        try:
            passed.extend(await _sql_checks(connection, table))
        finally:
            await connection.query(f"DROP TABLE {table}", {})
    finally:
        await connection.close()
    return passed


async def _rows(connection: Connection, table: str) -> list[dict[str, Any]]:
    return await connection.query(f"SELECT id, name, amount, note FROM {table} ORDER BY id", {})


async def _sql_checks(connection: Connection, table: str) -> list[str]:
    passed: list[str] = []
    rows = [
        {"id": 1, "name": "Ada", "amount": 10.5, "note": None},
        {"id": 2, "name": "Grace", "amount": 20, "note": "it's 100%"},
        {"id": 3, "name": "Linus", "amount": None, "note": ":not_a_param"},
    ]
    written = await connection.write(table, rows, mode="insert")
    assert written == 3, f"insert: 3 rows written, the connector says {written}"
    assert await _rows(connection, table) == rows, "insert: the rows read back differ"
    passed.append("insert")

    found = await connection.query(
        f"SELECT name FROM {table} WHERE id = :id OR name = :id_name OR note = ':id' ORDER BY id",
        {"id": 1, "id_name": "Grace"},
    )
    assert found == [{"name": "Ada"}, {"name": "Grace"}], f"named parameters: got {found}"
    like = await connection.query(
        f"SELECT id FROM {table} WHERE note LIKE '%100%%' AND amount > :least", {"least": 5}
    )
    assert like == [{"id": 2}], f"a literal % beside parameters: got {like}"
    hostile = "x'; DROP TABLE " + table + "; --"
    assert await connection.query(f"SELECT id FROM {table} WHERE name = :n", {"n": hostile}) == []
    passed.append("parameters")

    await connection.write(
        table,
        [
            {"id": 1, "name": "Ada L.", "amount": 11, "note": "changed"},
            {"id": 4, "name": "Barbara", "amount": 40, "note": None},
        ],
        mode="upsert",
        key=["id"],
    )
    names = [r["name"] for r in await _rows(connection, table)]
    assert names == ["Ada L.", "Grace", "Linus", "Barbara"], f"upsert: got {names}"
    passed.append("upsert")

    await connection.write(
        table, [{"id": 2, "note": "updated"}, {"id": 99, "note": "none"}], mode="update", key=["id"]
    )
    got = await _rows(connection, table)
    assert [r["note"] for r in got] == ["changed", "updated", ":not_a_param", None], (
        f"update: got {got}"
    )
    assert len(got) == 4, "update: an update by a key that is not there inserted a row"
    passed.append("update")

    error = await _expect(
        ConstraintViolation,
        "a duplicate key",
        lambda: connection.write(table, [{"id": 10, "name": "a"}, {"id": 1, "name": "b"}]),
        table,
    )
    assert error.system == SYSTEM
    ids = [r["id"] for r in await _rows(connection, table)]
    assert 10 not in ids, "a batch that failed was not rolled back whole"
    await _expect(
        ConstraintViolation,
        "a NOT NULL column",
        lambda: connection.write(table, [{"id": 11, "name": None}]),
        table,
    )
    passed.append("constraints")

    await _expect(
        ConstraintViolation,
        "a failed batch after a good one",
        lambda: connection.write(
            table,
            [
                {"id": 20, "name": "a"},
                {"id": 21, "name": "b"},
                {"id": 22, "name": "c"},
                {"id": 2, "name": "dup"},
            ],
            batch_size=2,
        ),
        table,
    )
    ids = [r["id"] for r in await _rows(connection, table)]
    assert {20, 21} <= set(ids), "the first batch was not committed on its own"
    assert 22 not in ids, "the failed batch was not rolled back"
    passed.append("batches")

    missing = f"il_missing_{uuid.uuid4().hex[:8]}"
    await _expect(
        ObjectNotFound,
        "an unknown table",
        lambda: connection.query(f"SELECT * FROM {missing}", {}),
        missing,
    )
    await _expect(
        ObjectNotFound,
        "writing an unknown table",
        lambda: connection.write(missing, [{"id": 1}]),
        missing,
    )
    await _expect(
        StatementError,
        "a missing parameter",
        lambda: connection.query(f"SELECT * FROM {table} WHERE id = :nope", {}),
        "nope",
    )
    await _expect(
        StatementError,
        "a table name that is not an identifier",
        lambda: connection.write(f"{table}; DROP", [{"id": 1}]),
        "DROP",
    )
    await _expect(
        StatementError,
        "more rows than allowed",
        lambda: connection.query(f"SELECT id FROM {table}", {}, max_rows=2),
        "SELECT",
    )
    passed.append("errors")
    return passed


async def _file_checks(connection: Connection, base: str) -> list[str]:
    passed: list[str] = []
    try:
        await connection.write_file(f"{base}/in/a.csv", b"id\n1\n")
        await connection.write_file(f"{base}/in/b.json", b"[]")
        await connection.write_file(f"{base}/in/deeper/c.txt", "é".encode())
        await connection.write_file(f"{base}/other.txt", b"x")
        assert await connection.read_file(f"{base}/in/a.csv") == b"id\n1\n", "read back differs"
        await connection.write_file(f"{base}/in/a.csv", b"id\n2\n")
        assert await connection.read_file(f"{base}/in/a.csv") == b"id\n2\n", "not replaced"
        passed.append("write")

        listed = await connection.list_files(f"{base}/in/")
        paths = [f.path for f in listed]
        want = [f"{base}/in/a.csv", f"{base}/in/b.json", f"{base}/in/deeper/c.txt"]
        assert paths == want, f"list: got {paths}"
        assert [f.size for f in listed] == [5, 2, 2], f"list: sizes {[f.size for f in listed]}"
        assert all(f.modified > 0 for f in listed), "list: no modification time"
        everything = [f.path for f in await connection.list_files(f"{base}/")]
        assert everything == [*want, f"{base}/other.txt"], f"list: got {everything}"
        assert await connection.list_files(f"{base}/nothing/") == [], "list: a missing prefix"
        passed.append("list")

        await connection.move_file(f"{base}/in/a.csv", f"{base}/done/a.csv")
        assert await connection.read_file(f"{base}/done/a.csv") == b"id\n2\n", "move: lost"
        paths = [f.path for f in await connection.list_files(f"{base}/in/")]
        assert f"{base}/in/a.csv" not in paths, "move: the source is still there"
        await connection.delete_file(f"{base}/in/b.json")
        await connection.delete_file(f"{base}/in/b.json")  # gone already: no error
        paths = [f.path for f in await connection.list_files(f"{base}/in/")]
        assert paths == [f"{base}/in/deeper/c.txt"], f"delete: got {paths}"
        passed.append("move-delete")

        missing = f"{base}/missing.csv"
        await _expect(
            ObjectNotFound, "reading a missing file", lambda: connection.read_file(missing), missing
        )
        await _expect(
            ObjectNotFound,
            "moving a missing file",
            lambda: connection.move_file(missing, f"{base}/x.csv"),
            missing,
        )
        for escape in ("../outside.txt", f"{base}/../../outside.txt", "/etc/passwd"):
            await _expect(
                StatementError,
                f"the path {escape}",
                lambda escape=escape: connection.write_file(escape, b"x"),  # type: ignore[misc]
                escape,
            )
            await _expect(
                StatementError,
                f"reading {escape}",
                lambda escape=escape: connection.read_file(escape),  # type: ignore[misc]
                escape,
            )
        passed.append("errors")
    finally:
        for item in await connection.list_files(f"{base}/"):
            await connection.delete_file(item.path)
    return passed
