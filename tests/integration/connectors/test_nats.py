"""The nats connector against the test NATS JetStream server, on a stream of its own per test."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from interlink.connectors import nats_client
from interlink.connectors.base import ConnectionFailed, ConnectorError, OutgoingMessage
from interlink.connectors.connections import Connections
from interlink.connectors.nats import NatsConnector
from interlink.connectors.nats_client import durable_name
from interlink.connectors.registry import registry
from interlink.estate.check import check_estate
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.flows.calls import system_targets
from interlink.flows.data import ConnectorTransport, system_lookup
from interlink.flows.engine import FlowEngine
from interlink.flows.retry import RetryPolicy
from interlink.flows.runs import FlowRun, FlowRuns
from interlink.flows.triggers import FlowTriggers, TriggerCheckpoints, item_run_id
from interlink.flows.triggers.declared import declared_triggers
from interlink.store import Store, open_store
from interlink.testing.connectors import MessageRoute, run_conformance
from interlink.testing.processes import free_port
from interlink.testing.services import nats_reachable, nats_url, require_service

pytestmark = pytest.mark.nats


@functools.cache
def _status() -> bool | str:
    return nats_reachable(nats_url())


async def _stream(name: str, subjects: list[str] | None) -> None:
    client = await nats.connect(nats_url())
    try:
        js = client.jetstream()
        if subjects is None:
            await js.delete_stream(name)
        else:
            await js.add_stream(name=name, subjects=subjects)
    finally:
        await client.close()


@pytest.fixture
def stream() -> Iterator[tuple[str, str]]:
    """A fresh stream and the subject prefix it takes (``<prefix>.>``), deleted afterwards."""
    require_service("NATS", _status)
    suffix = uuid.uuid4().hex[:10]
    name, prefix = f"IL_TEST_{suffix}", f"il.test.{suffix}"
    asyncio.run(_stream(name, [f"{prefix}.>"]))
    yield name, prefix
    asyncio.run(_stream(name, None))


def test_conformance(stream: tuple[str, str]) -> None:
    _, prefix = stream
    subject = f"{prefix}.orders"
    route = MessageRoute(
        to=subject,
        source=subject,
        options={"ackWait": 5},
        missing_to=f"il.nowhere.{uuid.uuid4().hex[:8]}",
        missing_source=f"il.nowhere.{uuid.uuid4().hex[:8]}",
    )
    config = {"url": nats_url()}
    passed = asyncio.run(run_conformance(NatsConnector(), config, messages=route))
    assert passed == ["spec", "send", "receive", "nack", "ack", "errors"]


def test_a_key_sent_twice_is_stored_once_and_the_consumer_keeps_its_place(
    stream: tuple[str, str],
) -> None:
    name, prefix = stream
    subject = f"{prefix}.dedupe"

    async def go() -> tuple[list[str], str]:
        connections = Connections()
        try:
            connection = await connections.get("bus", "nats", {"url": nats_url()})
            for _ in range(2):  # a retried send step: one key
                await connection.send(OutgoingMessage(subject, {"n": 1}, key="run-1:notify"))
            await connection.send(OutgoingMessage(subject, {"n": 2}, key="run-2:notify"))
            options = {"stream": name, "trigger": "orders:feed"}
            inbox = await connection.subscribe(subject, options)
            first = await asyncio.wait_for(inbox.receive(), 10)
            await first.ack()
            await inbox.close()
            # The durable consumer named after the trigger goes on after the acked message.
            inbox = await connection.subscribe(subject, options)
            second = await asyncio.wait_for(inbox.receive(), 10)
            await second.ack()
            await inbox.close()
            client = await nats.connect(nats_url())
            try:
                info = await client.jetstream().stream_info(name)
            finally:
                await client.close()
            return [first.key, second.key], f"{info.state.messages}"
        finally:
            await connections.aclose()

    keys, stored = asyncio.run(go())
    assert keys == ["run-1:notify", "run-2:notify"]
    assert stored == "2"


def test_an_unreachable_server_is_retryable_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    require_service("NATS", _status)
    monkeypatch.setenv("INTERLINK_SECRET_NATS_PW", "hidden-pw-xyz")
    with pytest.raises(ConnectorError) as caught:
        asyncio.run(
            Connections().get(
                "bus",
                "nats",
                {
                    "url": "nats://127.0.0.1:9",
                    "user": "u",
                    "password": "${secret:nats-pw}",
                    "timeout": 1,
                },
            )
        )
    error = caught.value
    assert isinstance(error, ConnectionFailed)
    assert error.message.startswith("System/bus (127.0.0.1:9): cannot connect")
    assert error.retryable
    assert "hidden-pw-xyz" not in error.message


FLOW = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: data}
---
apiVersion: interlink/v1
kind: System
metadata: {name: bus, owner: data}
spec:
  domain: data
  connector: nats
  connection: {url: "URL"}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: announce, owner: data}
spec:
  trigger: {manual: true}
  steps:
    - name: notify
      type: send
      system: bus
      to: SUBJECT
      message: "{'order': id, 'total': total}"
      headers: "{'x-customer': customer, 'x-count': 2}"
"""


def _engine(root: Path, store: Store, subject: str) -> FlowEngine:
    root.mkdir()
    text = FLOW.replace("URL", nats_url()).replace("SUBJECT", subject)
    (root / "estate.yaml").write_text(text, encoding="utf-8")
    result = check_estate(root, connectors=registry())
    assert result.ok, [f.render(root) for f in result.errors]
    estate = result.estate

    def spec(name: str) -> FlowSpec:
        item = estate.get("Flow", name)
        assert item is not None
        assert isinstance(item.obj, Flow)
        return item.obj.spec

    return FlowEngine(
        FlowRuns(store.db),
        spec,
        system_targets(estate),
        data=ConnectorTransport(system_lookup(estate)),
        retry=RetryPolicy(attempts=3, initial=0.01, cap=0.01),
    )


def test_a_send_step_publishes_under_its_run_and_step(
    stream: tuple[str, str], tmp_path: Path
) -> None:
    name, prefix = stream
    subject = f"{prefix}.announced"

    async def go() -> tuple[FlowRun, Any]:
        with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
            store.migrate()
            engine = _engine(tmp_path / "estate", store, subject)
            try:
                run = await engine.start_and_run(
                    "announce", {"id": 7, "total": 12.5, "customer": "ada"}
                )
            finally:
                await engine.aclose()
        client = await nats.connect(nats_url())
        try:
            sub = await client.jetstream().pull_subscribe(subject, stream=name)
            (msg,) = await sub.fetch(1, timeout=5)
            await msg.ack()
        finally:
            await client.close()
        return run, msg

    run, msg = asyncio.run(go())
    assert run.status == "completed", run.error
    assert run.context["steps"]["notify"] == {"to": subject, "key": f"{run.id}:notify"}
    assert json.loads(msg.data) == {"order": 7, "total": 12.5}
    assert msg.headers == {
        "x-customer": "ada",
        "x-count": "2",
        "Nats-Msg-Id": f"{run.id}:notify",
    }


def test_a_send_no_stream_takes_fails_the_run_once(stream: tuple[str, str], tmp_path: Path) -> None:
    subject = f"il.nowhere.{uuid.uuid4().hex[:8]}"

    async def go() -> tuple[FlowRun, list[Any]]:
        with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
            store.migrate()
            engine = _engine(tmp_path / "estate", store, subject)
            try:
                run = await engine.start_and_run("announce", {"id": 1, "total": 1, "customer": "x"})
            finally:
                await engine.aclose()
            return run, FlowRuns(store.db).steps(run.id)

    run, steps = asyncio.run(go())
    assert run.status == "failed"
    assert run.error == (
        f"step notify failed: System/bus ({subject}): no stream takes subject '{subject}'"
    )
    (record,) = steps
    assert record.attempts == 1  # nothing takes it: trying again would not help


def test_a_stream_deleted_under_a_consumer_is_an_error_not_a_silent_stall(
    stream: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, prefix = stream
    subject = f"{prefix}.gone"
    monkeypatch.setattr(nats_client, "FETCH_WAIT", 0.5)  # an idle fetch's wait, shortened

    async def go() -> ConnectorError:
        connection = await NatsConnector().open({"url": nats_url(), "timeout": 3}, "bus")
        try:
            inbox = await connection.subscribe(subject, {"trigger": "f:gone"})
            await _stream(name, None)
            with pytest.raises(ConnectorError) as gone:
                await asyncio.wait_for(inbox.receive(), 10)
            await inbox.close()
            await _stream(name, [f"{prefix}.>"])  # for the fixture to delete
            return gone.value
        finally:
            await connection.close()

    gone = asyncio.run(go())
    assert gone.message == f"System/bus ({subject}): the consumer or its stream is gone (deleted?)"
    assert gone.retryable


CONSUMER = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: data}
---
apiVersion: interlink/v1
kind: System
metadata: {name: bus, owner: data}
spec:
  domain: data
  connector: nats
  connection: {url: "URL"}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: ingest, owner: data}
spec:
  trigger:
    consume: {system: bus, from: SUBJECT, concurrency: 2, options: {ackWait: 5}}
  inputSchema: {type: object, properties: {body: {not: {const: refused}}}}
  steps:
    - {name: keep, type: map, expression: '$'}
"""


def test_a_consume_trigger_records_one_run_per_message(
    stream: tuple[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name, prefix = stream
    subject = f"{prefix}.ingest"
    root = tmp_path / "estate"
    root.mkdir()
    text = CONSUMER.replace("URL", nats_url()).replace("SUBJECT", subject)
    (root / "estate.yaml").write_text(text, encoding="utf-8")
    result = check_estate(root, connectors=registry())
    assert result.ok, [f.render(root) for f in result.errors]
    estate = result.estate

    def spec(flow: str) -> FlowSpec:
        item = estate.get("Flow", flow)
        assert item is not None
        assert isinstance(item.obj, Flow)
        return item.obj.spec

    async def go() -> tuple[list[FlowRun], int]:
        client = await nats.connect(nats_url())
        js = client.jetstream()
        with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
            store.migrate()
            engine = FlowEngine(FlowRuns(store.db), spec, system_targets(estate))
            connections = Connections()
            triggers = FlowTriggers(engine.start, TriggerCheckpoints(store.db), retry_initial=0.05)
            try:
                await triggers.apply(declared_triggers(estate, connections))
                await js.publish(subject, b'{"id": 1}', headers={"Nats-Msg-Id": "order-1"})
                await js.publish(subject, b"plain text")
                await js.publish(subject, b'"refused"')
                await js.publish(subject, b'{"id": 1}', headers={"Nats-Msg-Id": "order-1"})
                deadline = asyncio.get_running_loop().time() + 15
                while (
                    len(FlowRuns(store.db).latest("ingest", 10)) < 2
                    or "fails its inputSchema" not in caplog.text
                ):
                    assert asyncio.get_running_loop().time() < deadline, caplog.text
                    await asyncio.sleep(0.02)
                recorded = FlowRuns(store.db).latest("ingest", 10)
            finally:
                await triggers.close()
                await connections.aclose()
                await engine.aclose()
        info = await js.consumer_info(name, durable_name("ingest:bus." + subject))
        await client.close()
        return recorded, info.num_ack_pending + info.num_pending

    recorded, waiting = asyncio.run(go())
    trigger = f"ingest:bus.{subject}"
    by_key = {run.input["key"]: run for run in recorded}
    assert sorted(by_key) == [f"{name}:2", "order-1"]  # the duplicate dropped by the stream
    assert by_key["order-1"].input == {
        "body": {"id": 1},
        "headers": {"Nats-Msg-Id": "order-1"},
        "from": subject,
        "key": "order-1",
    }
    assert by_key["order-1"].id == item_run_id(trigger, "order-1")
    assert by_key[f"{name}:2"].input["body"] == "plain text"
    assert waiting >= 1  # the refused message is not lost: it waits on the server


NATS_SERVER = Path(shutil.which("nats-server") or "/usr/sbin/nats-server")


def test_refused_credentials_are_a_clear_error_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_service("nats-server", lambda: NATS_SERVER.exists() or f"no {NATS_SERVER}")
    port = free_port()
    command = [str(NATS_SERVER), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path)]
    server = subprocess.Popen(
        [*command, "--user", "interlink", "--pass", "right-pw"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"nats://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while nats_reachable(url, timeout=0.5) is not True:
            assert server.poll() is None, "nats-server exited"
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.05)
        monkeypatch.setenv("INTERLINK_SECRET_NATS_PW", "wrong-pw-xyz")
        config = {"url": url, "user": "interlink", "password": "${secret:nats-pw}", "timeout": 2}
        with pytest.raises(ConnectorError) as caught:
            asyncio.run(Connections().get("bus", "nats", config))
        monkeypatch.setenv("INTERLINK_SECRET_NATS_PW", "right-pw")
        opened = Connections()
        asyncio.run(opened.get("bus", "nats", config))  # the right one is let in
        asyncio.run(opened.aclose())
    finally:
        server.terminate()
        server.wait(timeout=15)
    error = caught.value
    assert isinstance(error, ConnectionFailed)
    assert error.message == f"System/bus (127.0.0.1:{port}): the server refused the credentials"
    assert not error.retryable
