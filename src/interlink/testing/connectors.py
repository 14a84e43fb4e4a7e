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
System and the object, none retryable). A failed check is an AssertionError saying which.

A message connector is given a :class:`MessageRoute` made for the run: where a send goes
(``to``) and where it then arrives (``source``), both empty, emptied by the caller afterwards::

    await run_conformance(Amqp(), config, messages=MessageRoute(to=queue, source=queue))

The kit subscribes, sends a JSON object (with a header and a key), a text and a JSON array, and
checks what arrives: the bodies as sent (JSON compact, text as UTF-8), the header, the source,
a key for each; a nack'd message handed out again under the same key; an acked one never again
(a marker sent after them all is the next to arrive); and, where the route names them, a send
to nowhere and a subscription to nothing each an ObjectNotFound naming it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from interlink.connectors.base import (
    Connection,
    Connector,
    ConnectorError,
    ConstraintViolation,
    Inbox,
    ObjectNotFound,
    OutgoingMessage,
    Received,
    StatementError,
)

SYSTEM = "conformance"
#: The longest the kit waits for a message it sent.
ARRIVAL = 15.0


@dataclass(frozen=True)
class MessageRoute:
    """Where the message checks send (``to``) and what they subscribe to (``source``), with the
    subscription's ``options``; ``missing_to`` and ``missing_source`` name nothing on the
    System (left None when the connector cannot know: MQTT takes any topic)."""

    to: str
    source: str
    options: Mapping[str, Any] = field(default_factory=dict)
    missing_to: str | None = None
    missing_source: str | None = None


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


async def run_conformance(
    connector: Connector, config: Mapping[str, Any], *, messages: MessageRoute | None = None
) -> list[str]:
    """Run every check; the names of the checks passed."""
    check_spec(connector)
    passed = ["spec"]
    if connector.spec.interface == "messages":
        assert messages is not None, "a message connector's checks need a MessageRoute"
        connection = await connector.open(connector.spec.defaults(config), SYSTEM)
        try:
            passed.extend(await _message_checks(connection, messages))
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


async def _arrive(inbox: Inbox, what: str) -> Received:
    try:
        return await asyncio.wait_for(inbox.receive(), ARRIVAL)
    except TimeoutError:
        raise AssertionError(f"{what}: nothing arrived in {ARRIVAL:g} s") from None


async def _message_checks(connection: Connection, route: MessageRoute) -> list[str]:
    passed: list[str] = []
    run = uuid.uuid4().hex[:8]
    sent: dict[str, OutgoingMessage] = {
        "object": OutgoingMessage(
            route.to, {"n": 1, "run": run}, {"x-conformance": run}, key=f"{run}-1"
        ),
        "text": OutgoingMessage(route.to, f"héllo {run}", key=f"{run}-2"),
        "array": OutgoingMessage(route.to, [1, "two", run], key=f"{run}-3"),
    }
    expected = {
        "object": json.dumps(sent["object"].body, separators=(",", ":")).encode(),
        "text": f"héllo {run}".encode(),
        "array": json.dumps(sent["array"].body, separators=(",", ":")).encode(),
    }
    inbox = await connection.subscribe(route.source, {**route.options, "trigger": f"kit:{run}"})
    try:
        for message in sent.values():
            await connection.send(message)
        passed.append("send")

        got: dict[str, Received] = {}
        while len(got) < len(sent):
            received = await _arrive(inbox, f"message {len(got) + 1} of {len(sent)}")
            name = _which(received, expected)
            assert name not in got, f"{name}: arrived twice before any nack"
            got[name] = received
        for name, received in got.items():
            assert isinstance(received.key, str), f"{name}: the key is not a string"
            assert received.key, f"{name}: the key is empty"
            assert received.source == route.source, (
                f"{name}: source {received.source!r}, not {route.source!r}"
            )
        assert len({r.key for r in got.values()}) == len(got), "two messages share a key"
        headers = got["object"].headers
        assert headers.get("x-conformance") == run, f"the header sent is not there: {headers}"
        passed.append("receive")

        first_key = got["object"].key
        await got["object"].nack()
        for name in ("text", "array"):
            await got[name].ack()
        again = await _arrive(inbox, "the nack'd message")
        assert _which(again, expected) == "object", "a message acked came back after a nack"
        assert again.key == first_key, f"the nack'd message came back as {again.key!r}"
        await again.ack()
        passed.append("nack")

        marker = OutgoingMessage(route.to, {"marker": run}, key=f"{run}-marker")
        await connection.send(marker)
        last = await _arrive(inbox, "the marker")
        assert last.body not in expected.values(), f"an acked message came back: {last.body!r}"
        assert json.loads(last.body) == {"marker": run}, f"not the marker: {last.body!r}"
        await last.ack()
        passed.append("ack")
    finally:
        await inbox.close()

    if route.missing_to is not None:
        missing = route.missing_to
        await _expect(
            ObjectNotFound,
            "a send to nowhere",
            lambda: connection.send(OutgoingMessage(missing, {"lost": True}, key=run)),
            missing,
        )
    if route.missing_source is not None:
        nothing = route.missing_source

        async def subscribe() -> None:
            inbox = await connection.subscribe(nothing, {"trigger": f"kit:{run}:missing"})
            await inbox.close()

        await _expect(ObjectNotFound, "a subscription to nothing", subscribe, nothing)
    passed.append("errors")
    return passed


def _which(received: Received, expected: Mapping[str, bytes]) -> str:
    for name, body in expected.items():
        if received.body == body:
            return name
    raise AssertionError(f"a message arrived that was not sent, or changed: {received.body!r}")
