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

A file connector also passes :func:`run_file_conformance` (in a folder of its own under the
System's root), a connector that only sends :func:`run_send_conformance` (with a callback that
sees the message arrive at the System), and one that sends and receives
:func:`run_message_conformance` (one destination it sends to and subscribes to: ack, nack,
redelivery after a close).

A message connector may instead be given a :class:`MessageRoute` made for the run: where a send goes
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
#: How long a message check waits for one message before it fails (it never waits forever).
RECEIVE_WITHIN = 10.0
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
    if connector.spec.interface == "files":
        return await run_file_conformance(connector, config)
    if connector.spec.interface == "messages":
        assert messages is not None, "a message connector's checks need a MessageRoute"
        connection = await connector.open(connector.spec.defaults(config), SYSTEM)
        try:
            passed.extend(await _route_checks(connection, messages))
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


async def run_message_conformance(
    connector: Connector,
    config: Mapping[str, Any],
    destination: str,
    options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Run the message interface's checks, sending to and subscribing to ``destination`` with
    the subscription ``options``; the names of the checks passed.

    A message sent is received with its body, headers and a key; one acked is not handed out
    again; one nacked is, with the same key; one not acked when its inbox closes is handed out
    to the next inbox of the same subscription; a closed inbox says so; a string body is text.
    Each receive waits at most :data:`RECEIVE_WITHIN` seconds."""
    check_spec(connector)
    passed = ["spec"]
    assert connector.spec.interface == "messages", f"{connector.spec.name}: not a message one"
    options = dict(options or {})
    connection = await connector.open(connector.spec.defaults(config), SYSTEM)
    try:
        inbox = await connection.subscribe(destination, options)
        try:
            passed.extend(await _message_checks(connection, inbox, destination))
            inbox = await _redelivery_after_close(connection, inbox, destination, options)
            passed.append("close-redelivers")
        finally:
            await inbox.close()
        await _expect_closed(inbox)
        passed.append("closed")
    finally:
        await connection.close()
    return passed


async def _receive(inbox: Inbox, what: str) -> Received:
    try:
        return await asyncio.wait_for(inbox.receive(), RECEIVE_WITHIN)
    except TimeoutError:
        raise AssertionError(f"{what}: nothing received in {RECEIVE_WITHIN} s") from None


async def _send(connection: Connection, to: str, body: Any, key: str) -> None:
    await connection.send(OutgoingMessage(to=to, body=body, headers={"x-check": key}, key=key))


async def _message_checks(connection: Connection, inbox: Inbox, to: str) -> list[str]:
    passed: list[str] = []
    await _send(connection, to, {"n": 1, "text": "zoë"}, "k-1")
    got = await _receive(inbox, "send then receive")
    assert json.loads(got.body) == {"n": 1, "text": "zoë"}, f"the body came back as {got.body!r}"
    assert got.headers.get("x-check") == "k-1", f"the headers came back as {dict(got.headers)}"
    assert got.key, f"no key: {got.key!r}"
    assert got.source, "the message says not where it came from"
    await got.ack()
    passed.append("send-receive-ack")

    await _send(connection, to, "plain text", "k-2")
    text = await _receive(inbox, "a string body")
    assert text.body == b"plain text", f"a string body came back as {text.body!r}"
    assert text.key != got.key, "two messages have one key"
    await text.ack()
    passed.append("text")

    await _send(connection, to, {"n": 3}, "k-3")
    first = await _receive(inbox, "a message to nack")
    assert json.loads(first.body) == {"n": 3}, (
        f"expected message 3 (1 and 2 were acked): {first.body!r}"
    )
    await first.nack()
    again = await _receive(inbox, "a nacked message handed out again")
    assert json.loads(again.body) == {"n": 3}, f"after a nack, got {again.body!r}"
    assert again.key == first.key, (
        f"a message handed out again changed key: {first.key} {again.key}"
    )
    await again.ack()
    passed.append("nack-redelivers")
    return passed


async def _redelivery_after_close(
    connection: Connection, inbox: Inbox, to: str, options: Mapping[str, Any]
) -> Inbox:
    """Receive a message without acking it, close the inbox: the next one hands it out, and
    nothing acked before. The inbox left open, for the caller to close."""
    await _send(connection, to, {"n": 4}, "k-4")
    held = await _receive(inbox, "a message not acked")
    assert json.loads(held.body) == {"n": 4}, f"an acked message came back: {held.body!r}"
    await inbox.close()
    reopened = await connection.subscribe(to, options)
    try:
        again = await _receive(reopened, "a message not acked before close")
        assert json.loads(again.body) == {"n": 4}, f"after close, got {again.body!r} first"
        assert again.key == held.key, "a message handed out again changed key"
        await again.ack()
        await _send(connection, to, {"n": 5}, "k-5")
        last = await _receive(reopened, "a message after the redelivered one")
        assert json.loads(last.body) == {"n": 5}, f"an acked message came back: {last.body!r}"
        await last.ack()
    except BaseException:
        await reopened.close()
        raise
    return reopened


async def _expect_closed(inbox: Inbox) -> None:
    try:
        await asyncio.wait_for(inbox.receive(), RECEIVE_WITHIN)
    except ConnectorError as exc:
        assert f"System/{SYSTEM}" in exc.message, (
            f"a closed inbox: the error names no System: {exc}"
        )
        assert not exc.retryable, "a closed inbox is marked retryable"
        await inbox.close()  # twice is harmless
        return
    except TimeoutError:
        raise AssertionError("receive on a closed inbox waited instead of failing") from None
    raise AssertionError("receive on a closed inbox handed out a message")


# --- files ---------------------------------------------------------------------------------


async def run_file_conformance(connector: Connector, config: Mapping[str, Any]) -> list[str]:
    """Run the spec's checks and a file connector's, in a folder of its own under the System's
    root (``il-conformance-<random>/``, emptied afterwards); the names of the checks passed.

    Writing, reading back (bytes exactly, empty files too), replacing; listing (sorted,
    recursive, by a prefix of a name as well as of a folder, sizes, nothing of other folders);
    moving (replacing the target) and deleting (twice is no error); and the errors: a file
    that is not there (reading or moving it) is ObjectNotFound naming its path, not retryable;
    a path with ``..`` is refused before the System is asked."""
    check_spec(connector)
    passed = ["spec"]
    assert connector.spec.interface == "files", f"{connector.spec.name} is not a file connector"
    connection = await connector.open(connector.spec.defaults(config), SYSTEM)
    root = f"il-conformance-{uuid.uuid4().hex[:10]}/"
    try:
        passed.extend(await _run_file_checks(connection, root))
    finally:
        try:
            for info in await connection.list_files(root):
                await connection.delete_file(info.path)
        finally:
            await connection.close()
    return passed


async def _run_file_checks(connection: Connection, root: str) -> list[str]:
    passed: list[str] = []
    data = bytes(range(256)) * 3 + "é\r\n".encode()
    await connection.write_file(f"{root}in/a.bin", data)
    await connection.write_file(f"{root}in/empty.txt", b"")
    await connection.write_file(f"{root}in/deep/er/b.txt", b"b")
    await connection.write_file(f"{root}inbox.txt", b"x")
    got = await connection.read_file(f"{root}in/a.bin")
    assert got == data, "write then read: the bytes differ"
    assert await connection.read_file(f"{root}in/empty.txt") == b"", "an empty file is not empty"
    await connection.write_file(f"{root}in/a.bin", b"second")
    assert await connection.read_file(f"{root}in/a.bin") == b"second", "a write did not replace"
    passed.append("write-read")

    listed = await connection.list_files(f"{root}in/")
    paths = [f.path for f in listed]
    assert paths == [f"{root}in/a.bin", f"{root}in/deep/er/b.txt", f"{root}in/empty.txt"], (
        f"list of a folder (sorted, recursive, its own files only): got {paths}"
    )
    assert [f.size for f in listed] == [6, 1, 0], f"list: sizes {[f.size for f in listed]}"
    assert all(f.modified > 0 for f in listed), "list: a file with no modification time"
    named = [f.path for f in await connection.list_files(f"{root}in")]
    assert named == [*paths, f"{root}inbox.txt"], f"list by a prefix of a name: got {named}"
    assert await connection.list_files(f"{root}nothing/") == [], "list of no files is not empty"
    passed.append("list")

    await connection.write_file(f"{root}out/b.txt", b"old")
    await connection.move_file(f"{root}in/deep/er/b.txt", f"{root}out/b.txt")
    assert await connection.read_file(f"{root}out/b.txt") == b"b", "move did not replace"
    moved = [f.path for f in await connection.list_files(f"{root}in/")]
    assert f"{root}in/deep/er/b.txt" not in moved, "move left the file where it was"
    passed.append("move")

    await connection.delete_file(f"{root}out/b.txt")
    await connection.delete_file(f"{root}out/b.txt")
    assert await connection.list_files(f"{root}out/") == [], "delete left the file"
    passed.append("delete")

    missing = f"{root}in/missing.txt"
    await _expect(
        ObjectNotFound, "reading a missing file", lambda: connection.read_file(missing), missing
    )
    await _expect(
        ObjectNotFound,
        "moving a missing file",
        lambda: connection.move_file(missing, f"{root}out/x.txt"),
        missing,
    )
    for escape in (f"{root}../../etc/passwd", "../outside.txt", "/etc/passwd"):
        await _expect(
            ConnectorError,
            f"reading {escape}",
            lambda escape=escape: connection.read_file(escape),  # type: ignore[misc]
            escape,
        )
        await _expect(
            ConnectorError,
            f"writing {escape}",
            lambda escape=escape: connection.write_file(escape, b"x"),  # type: ignore[misc]
            escape,
        )
    passed.append("errors")
    return passed


async def _arrive(inbox: Inbox, what: str) -> Received:
    try:
        return await asyncio.wait_for(inbox.receive(), ARRIVAL)
    except TimeoutError:
        raise AssertionError(f"{what}: nothing arrived in {ARRIVAL:g} s") from None


async def _route_checks(connection: Connection, route: MessageRoute) -> list[str]:
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


# --- sending messages ------------------------------------------------------------------------


async def run_send_conformance(
    connector: Connector,
    config: Mapping[str, Any],
    *,
    to: str,
    arrived: Callable[[OutgoingMessage], Awaitable[None]],
) -> list[str]:
    """Run the spec's checks and a sending connector's: a text message with a subject and a
    key reaches ``to`` (``arrived`` waits for it at the System, failing when it does not come),
    the same message sent again (a retried step) is taken again without error, and a ``to``
    with a line break in it is refused (a ConnectorError naming the System, not retryable)
    before anything is sent. The names of the checks passed."""
    check_spec(connector)
    passed = ["spec"]
    assert connector.spec.interface == "messages", f"{connector.spec.name} sends no messages"
    connection = await connector.open(connector.spec.defaults(config), SYSTEM)
    try:
        tag = uuid.uuid4().hex[:10]
        message = OutgoingMessage(
            to=to, body=f"conformance {tag}: caf\u00e9", subject=f"conformance {tag}", key=tag
        )
        await connection.send(message)
        await arrived(message)
        passed.append("send")
        await connection.send(message)
        await arrived(message)
        passed.append("resend")
        await _expect(
            ConnectorError,
            "a destination with a line break",
            lambda: connection.send(OutgoingMessage(to=f"{to}\r\nX-Injected: yes", body="x")),
            "System/",
        )
        passed.append("errors")
    finally:
        await connection.close()
    return passed


def _which(received: Received, expected: Mapping[str, bytes]) -> str:
    for name, body in expected.items():
        if received.body == body:
            return name
    raise AssertionError(f"a message arrived that was not sent, or changed: {received.body!r}")
