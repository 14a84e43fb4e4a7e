"""The redis-streams connector against the test server, on streams of its own per test."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from interlink.connectors.base import (
    ConnectionFailed,
    ConnectorError,
    OutgoingMessage,
    StatementError,
)
from interlink.connectors.connections import Connections
from interlink.connectors.redis_streams import RedisStreamsConnector
from interlink.testing.connectors import run_message_conformance
from interlink.testing.services import redis_reachable, redis_url, require_service

pytestmark = pytest.mark.redis

WITHIN = 10.0


@functools.cache
def _status() -> bool | str:
    return redis_reachable(redis_url())


@pytest.fixture
def config() -> dict[str, Any]:
    require_service("Redis", _status)
    parts = urlsplit(redis_url())
    config: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 6379,
        "database": int(parts.path.lstrip("/") or 0),
        "connectTimeout": 5,
    }
    if parts.password:
        config["password"] = parts.password
    return config


@pytest.fixture
def server() -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url())
    yield client
    client.close()


@pytest.fixture
def prefix(config: dict[str, Any], server: Any) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"il-test:{uuid.uuid4().hex[:12]}:"
    yield name
    keys = list(server.scan_iter(match=f"{name}*"))
    if keys:
        server.delete(*keys)


def test_conformance(config: dict[str, Any], prefix: str) -> None:
    passed = asyncio.run(
        run_message_conformance(
            RedisStreamsConnector(), config, f"{prefix}orders", {"reclaimAfter": 100}
        )
    )
    assert passed == [
        "spec",
        "send-receive-ack",
        "text",
        "nack-redelivers",
        "close-redelivers",
        "closed",
    ]


def test_entries_hold_body_headers_and_key(
    config: dict[str, Any], prefix: str, server: Any
) -> None:
    stream = f"{prefix}out"

    async def go() -> None:
        conn = await RedisStreamsConnector().open(config, "events")
        try:
            await conn.send(OutgoingMessage(to=stream, body={"a": 1}, headers={"h": "v"}, key="k"))
            await conn.send(OutgoingMessage(to=stream, body="text"))
        finally:
            await conn.close()

    asyncio.run(go())
    (_, first), (_, second) = server.xrange(stream)
    assert first == {
        b"body": b'{"a":1}',
        b"content-type": b"application/json",
        b"headers": b'{"h":"v"}',
        b"key": b"k",
    }
    assert second[b"body"] == b"text"
    assert second[b"content-type"] == b"text/plain; charset=utf-8"
    assert b"key" not in second


def test_max_length_trims_the_stream(config: dict[str, Any], prefix: str, server: Any) -> None:
    stream = f"{prefix}trimmed"

    async def go() -> None:
        conn = await RedisStreamsConnector().open({**config, "maxLength": 10}, "events")
        try:
            for n in range(250):
                await conn.send(OutgoingMessage(to=stream, body=n))
        finally:
            await conn.close()

    asyncio.run(go())
    # MAXLEN ~ drops whole nodes of entries (100 by default): fewer than sent, at least 10.
    assert 10 <= server.xlen(stream) < 250


def test_an_entry_of_another_producer_and_an_earliest_group(
    config: dict[str, Any], prefix: str, server: Any
) -> None:
    stream = f"{prefix}foreign"
    entry_id = server.xadd(stream, {"sku": "A-1", "qty": "2"}).decode()

    async def go() -> tuple[str, bytes, dict[str, str], str]:
        conn = await RedisStreamsConnector().open(config, "events")
        inbox = await conn.subscribe(stream, {"start": "earliest", "group": "billing"})
        try:
            message = await asyncio.wait_for(inbox.receive(), WITHIN)
            await message.ack()
            return message.key, message.body, dict(message.headers), message.source
        finally:
            await inbox.close()
            await conn.close()

    key, body, headers, source = asyncio.run(go())
    assert (key, json.loads(body), headers, source) == (
        entry_id,
        {"sku": "A-1", "qty": "2"},
        {},
        stream,
    )
    (group,) = server.xinfo_groups(stream)
    assert (group["name"], group["pending"], group["consumers"]) == (b"billing", 0, 0)


def test_a_crashed_consumers_entries_are_claimed(
    config: dict[str, Any], prefix: str, server: Any
) -> None:
    stream = f"{prefix}claimed"
    server.xgroup_create(stream, "workers", id="0", mkstream=True)
    entry_id = server.xadd(stream, {"body": b"job"}).decode()
    # A consumer that read the entry and died before acking it.
    server.xreadgroup("workers", "gone", {stream: ">"}, count=1)

    async def go() -> tuple[str, bytes]:
        conn = await RedisStreamsConnector().open(config, "events")
        inbox = await conn.subscribe(stream, {"group": "workers", "reclaimAfter": 50})
        try:
            message = await asyncio.wait_for(inbox.receive(), WITHIN)
            await message.ack()
            return message.key, message.body
        finally:
            await inbox.close()
            await conn.close()

    assert asyncio.run(go()) == (entry_id, b"job")
    assert server.xpending(stream, "workers")["pending"] == 0


def test_close_ends_a_waiting_receive(config: dict[str, Any], prefix: str) -> None:
    stream = f"{prefix}quiet"

    async def go() -> BaseException | None:
        conn = await RedisStreamsConnector().open(config, "events")
        try:
            inbox = await conn.subscribe(stream, {"block": 60_000, "reclaimAfter": 60_000})
            waiting = asyncio.create_task(inbox.receive())
            await asyncio.sleep(0.05)  # the read is under way on the server
            await inbox.close()
            done, _ = await asyncio.wait([waiting], timeout=WITHIN)
            assert done, "a receive went on waiting after close"
            return waiting.exception()
        finally:
            await conn.close()

    error = asyncio.run(go())
    assert isinstance(error, ConnectorError)
    assert error.message == f"System/events (stream {stream}): the inbox is closed"


def test_a_key_of_another_type_names_the_stream(
    config: dict[str, Any], prefix: str, server: Any
) -> None:
    key = f"{prefix}plain"
    server.set(key, "not a stream")

    async def go() -> None:
        conn = await RedisStreamsConnector().open(config, "events")
        try:
            await conn.send(OutgoingMessage(to=key, body=1))
        finally:
            await conn.close()

    with pytest.raises(StatementError) as caught:
        asyncio.run(go())
    assert caught.value.message.startswith(f"System/events (stream {key}): WRONGTYPE")
    assert not caught.value.retryable


def test_refused_credentials_are_a_clear_error_without_the_secret(
    config: dict[str, Any], server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = f"il_u_{uuid.uuid4().hex[:8]}"
    server.acl_setuser(user, enabled=True, passwords=["+right-one"], keys=["il-test:*"])
    try:
        monkeypatch.setenv("INTERLINK_SECRET_EVENTS_PW", "wrong-one-xyz")
        connection = {**config, "username": user, "password": "${secret:events-pw}"}
        with pytest.raises(ConnectionFailed) as caught:
            asyncio.run(Connections().get("events", "redis-streams", connection))
        error = caught.value
        assert error.message.startswith(f"System/events ({config['host']}:{config['port']}): ")
        assert "WRONGPASS" in error.message or "invalid username-password" in error.message
        assert "wrong-one-xyz" not in error.message
        assert not error.retryable
    finally:
        server.acl_deluser(user)


def test_an_unreachable_server_is_retryable_and_says_where(config: dict[str, Any]) -> None:
    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(RedisStreamsConnector().open({**config, "port": 1}, "events"))
    assert caught.value.message.startswith("System/events (127.0.0.1:1): ")
    assert caught.value.retryable


def test_through_the_process_connections(config: dict[str, Any], prefix: str, server: Any) -> None:
    stream, plain = f"{prefix}via", f"{prefix}plain"
    server.set(plain, "not a stream")

    async def go() -> tuple[str, bytes, ConnectorError]:
        connections = Connections()
        try:
            conn = await connections.get("events", "redis-streams", config)
            inbox = await conn.subscribe(stream, {})
            await conn.send(OutgoingMessage(to=stream, body={"via": "connections"}, key="v1"))
            message = await asyncio.wait_for(inbox.receive(), WITHIN)
            await message.ack()
            await inbox.close()
            with pytest.raises(ConnectorError) as caught:
                await conn.send(OutgoingMessage(to=plain, body=1))
            return message.source, message.body, caught.value
        finally:
            await connections.aclose()

    source, body, error = asyncio.run(go())
    assert (source, json.loads(body)) == (stream, {"via": "connections"})
    assert isinstance(error, StatementError)
    assert error.message.startswith(f"System/events (stream {plain}): WRONGTYPE")
    assert server.xpending(stream, "interlink")["pending"] == 0


def test_a_cancelled_receive_leaves_the_inbox_usable(config: dict[str, Any], prefix: str) -> None:
    stream = f"{prefix}cancelled"

    async def go() -> bytes:
        conn = await RedisStreamsConnector().open(config, "events")
        try:
            inbox = await conn.subscribe(stream, {"block": 60_000})
            waiting = asyncio.create_task(inbox.receive())
            await asyncio.sleep(0.05)  # the read is under way on the server
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await conn.send(OutgoingMessage(to=stream, body="after"))
            message = await asyncio.wait_for(inbox.receive(), WITHIN)
            await message.ack()
            await asyncio.wait_for(inbox.close(), WITHIN)
            return message.body
        finally:
            await conn.close()

    assert asyncio.run(go()) == b"after"
