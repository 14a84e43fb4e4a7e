"""The amqp connector against the test RabbitMQ broker, on queues of its own per test."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Iterator

import aio_pika
import pytest
from yarl import URL

from interlink.connectors.amqp import AmqpConnector
from interlink.connectors.base import (
    ConnectionFailed,
    ConnectorError,
    ObjectNotFound,
    OutgoingMessage,
)
from interlink.connectors.connections import Connections
from interlink.testing.connectors import MessageRoute, run_conformance
from interlink.testing.services import amqp_reachable, amqp_url, require_service

pytestmark = pytest.mark.amqp


@functools.cache
def _status() -> bool | str:
    return amqp_reachable(amqp_url())


async def _admin(queues: list[str], *, declare: bool) -> None:
    connection = await aio_pika.connect(amqp_url())
    try:
        channel = await connection.channel()
        for queue in queues:
            if declare:
                await channel.declare_queue(queue, durable=True)
            else:
                await channel.queue_delete(queue)
    finally:
        await connection.close()


@pytest.fixture
def queue() -> Iterator[str]:
    """A fresh durable queue, deleted afterwards."""
    require_service("RabbitMQ", _status)
    name = f"il_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin([name], declare=True))
    yield name
    asyncio.run(_admin([name], declare=False))


def _with_secret(monkeypatch: pytest.MonkeyPatch, password: str) -> str:
    """The test broker's URL with its password as a reference to ``password``."""
    url = URL(amqp_url())
    monkeypatch.setenv("INTERLINK_SECRET_RABBIT_PW", password)
    return str(url.with_password(None)).replace(
        f"{url.user}@", f"{url.user}:${{secret:rabbit-pw}}@", 1
    )


def test_conformance(queue: str) -> None:
    route = MessageRoute(
        to=queue,
        source=queue,
        options={"prefetch": 5},
        missing_to=f"{queue}_nowhere",
        missing_source=f"{queue}_missing",
    )
    passed = asyncio.run(run_conformance(AmqpConnector(), {"url": amqp_url()}, messages=route))
    assert passed == ["spec", "send", "receive", "nack", "ack", "errors"]


def test_refused_credentials_are_a_clear_error_without_the_secret(
    queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _with_secret(monkeypatch, "wrong-pw-xyz")
    with pytest.raises(ConnectorError) as caught:
        asyncio.run(Connections().get("rabbit", "amqp", {"url": url}))
    error = caught.value
    assert isinstance(error, ConnectionFailed)
    assert error.message.startswith("System/rabbit (127.0.0.1:5672 vhost /): ")
    assert "refused the login" in error.message
    assert "wrong-pw-xyz" not in error.message
    assert not error.retryable


def test_an_unreachable_broker_is_retryable_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    require_service("RabbitMQ", _status)
    url = _with_secret(monkeypatch, "guest").replace(":5672", ":9", 1)
    with pytest.raises(ConnectorError) as caught:
        asyncio.run(Connections().get("rabbit", "amqp", {"url": url, "timeout": 2}))
    error = caught.value
    assert isinstance(error, ConnectionFailed)
    assert error.message.startswith("System/rabbit (127.0.0.1:9 vhost /): cannot connect")
    assert error.retryable


def test_a_missing_exchange_and_queue_name_themselves(
    queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _with_secret(monkeypatch, URL(amqp_url()).password or "")

    async def go() -> tuple[ConnectorError, ConnectorError]:
        connections = Connections()
        try:
            with pytest.raises(ConnectorError) as exchange:
                await connections.get("rabbit", "amqp", {"url": url, "exchange": f"{queue}_x"})
            connection = await connections.get("rabbit", "amqp", {"url": url})
            with pytest.raises(ConnectorError) as missing:
                await connection.subscribe(f"{queue}_gone", {"trigger": "f:t"})
            # The sends' channel is not disturbed by the consumer's failing.
            await connection.send(OutgoingMessage(queue, {"still": "works"}, key="k"))
            return exchange.value, missing.value
        finally:
            await connections.aclose()

    exchange, missing = asyncio.run(go())
    assert isinstance(exchange, ObjectNotFound)
    assert exchange.message == f"System/rabbit ({queue}_x): no exchange '{queue}_x' on the broker"
    assert isinstance(missing, ObjectNotFound)
    assert missing.message == (
        f"System/rabbit ({queue}_gone): no queue '{queue}_gone' on the broker"
    )


def test_a_queue_deleted_under_a_consumer_is_an_error_not_a_silent_stall(queue: str) -> None:
    async def go() -> tuple[ConnectorError, ConnectorError]:
        connection = await AmqpConnector().open({"url": amqp_url(), "timeout": 5}, "rabbit")
        try:
            inbox = await connection.subscribe(queue, {"trigger": "f:t"})
            await _admin([queue], declare=False)
            with pytest.raises(ConnectorError) as cancelled:
                await asyncio.wait_for(inbox.receive(), 10)
            with pytest.raises(ConnectorError) as missing:  # opened again: the queue is gone
                await asyncio.wait_for(inbox.receive(), 10)
            await inbox.close()
            return cancelled.value, missing.value
        finally:
            await connection.close()

    cancelled, missing = asyncio.run(go())
    assert cancelled.retryable
    assert cancelled.message == (
        f"System/rabbit ({queue}): the broker cancelled the consumer (the queue deleted?)"
    )
    assert isinstance(missing, ObjectNotFound)


def test_acks_made_in_order_go_together_and_never_cover_an_unsettled_message(queue: str) -> None:
    """Acks called in the order messages came are sent as one ack of the latest (``multiple``);
    one called before an earlier message is settled goes alone, and a nacked or unsettled
    message is never acked by a later one's ack: only those come again."""

    async def go() -> list[str]:
        connection = await AmqpConnector().open({"url": amqp_url(), "timeout": 5}, "rabbit")
        try:
            for n in range(6):
                await connection.send(OutgoingMessage(queue, f"m{n}", key=f"m{n}"))
            inbox = await connection.subscribe(queue, {"prefetch": 10, "trigger": "f:t"})
            got = [await asyncio.wait_for(inbox.receive(), 10) for _ in range(6)]
            assert all(message.acks_in_call_order for message in got)
            await got[2].ack()  # m0 and m1 unsettled: acked alone
            await got[0].nack()
            # m0 (nacked), m1 and m2 settled in the same turn: one ack of m1, not m2 again.
            await asyncio.gather(got[1].ack(), got[3].ack())
            await got[5].ack()  # m4 unsettled: alone, and m4 stays out
            await inbox.close()
            inbox = await connection.subscribe(queue, {"prefetch": 10, "trigger": "f:t"})
            again: list[str] = []
            while len(again) < 2:
                message = await asyncio.wait_for(inbox.receive(), 10)
                again.append(message.body.decode())
                await message.ack()
            with pytest.raises(TimeoutError):  # nothing else comes
                await asyncio.wait_for(inbox.receive(), 0.5)
            await inbox.close()
            return sorted(again)
        finally:
            await connection.close()

    assert asyncio.run(go()) == ["m0", "m4"]
