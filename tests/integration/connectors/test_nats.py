"""The nats connector against the test NATS JetStream server, on a stream of its own per test."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Iterator

import nats
import pytest

from interlink.connectors.base import ConnectionFailed, ConnectorError, OutgoingMessage
from interlink.connectors.connections import Connections
from interlink.connectors.nats import NatsConnector
from interlink.testing.connectors import MessageRoute, run_conformance
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
                    "timeout": 2,
                },
            )
        )
    error = caught.value
    assert isinstance(error, ConnectionFailed)
    assert error.message.startswith("System/bus (127.0.0.1:9): cannot connect")
    assert error.retryable
    assert "hidden-pw-xyz" not in error.message
