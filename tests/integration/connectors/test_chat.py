"""The chat connector against a real HTTP server on loopback (the test receiver), which records
what is posted and answers as Slack's webhooks do when told."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from interlink.connectors.base import (
    ConnectionFailed,
    ConnectorError,
    OutgoingMessage,
    StatementError,
)
from interlink.connectors.chat import SPEC, ChatConnector
from interlink.testing.connectors import run_send_conformance
from interlink.testing.receivers import Receiver, Reply

TOKEN = "il-chat-token-9f8e7d6c5b"
PATH = f"/services/T0001/B0001/{TOKEN}"


def _run(test: Callable[[Receiver], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        async with Receiver() as receiver:
            return await test(receiver)

    return asyncio.run(go())


def _posted(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.requests]


def test_conformance() -> None:
    async def test(receiver: Receiver) -> list[str]:
        async def arrived(message: OutgoingMessage) -> None:
            await receiver.wait_for(
                lambda: any(p.get("text") == message.body for p in _posted(receiver)), timeout=5
            )

        config = {"webhook": receiver.url + PATH, "username": "Interlink"}
        passed = await run_send_conformance(ChatConnector(), config, to="#ops", arrived=arrived)
        assert [r.path for r in receiver.requests] == [PATH, PATH]
        assert receiver.requests[0].headers["content-type"] == "application/json"
        post = _posted(receiver)[0]
        assert post["channel"] == "#ops"
        assert post["username"] == "Interlink"
        assert post["text"].endswith("café")
        return passed

    assert _run(test) == ["spec", "send", "resend", "errors"]


def test_a_payload_object_and_the_default_channel() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Order 42* shipped"}}]

    async def test(receiver: Receiver) -> list[dict[str, Any]]:
        config = {"webhook": receiver.url + PATH, "channel": "#orders"}
        conn = await ChatConnector().open(SPEC.defaults(config), "ops-chat")
        try:
            await conn.send(OutgoingMessage(to="", body={"text": "Order 42", "blocks": blocks}))
            await conn.send(OutgoingMessage(to="", body={"text": "x", "channel": "#own"}))
        finally:
            await conn.close()
        return _posted(receiver)

    assert _run(test) == [
        {"text": "Order 42", "blocks": blocks, "channel": "#orders"},
        {"text": "x", "channel": "#own"},
    ]


async def _send_to(receiver: Receiver, message: OutgoingMessage | None = None) -> None:
    conn = await ChatConnector().open({"webhook": receiver.url + PATH, "timeout": 5}, "ops-chat")
    try:
        await conn.send(message or OutgoingMessage(to="", body="hello"))
    finally:
        await conn.close()


def _error(setup: Callable[[Receiver], None]) -> ConnectorError:
    async def test(receiver: Receiver) -> ConnectorError:
        setup(receiver)
        with pytest.raises(ConnectorError) as error:
            await _send_to(receiver)
        return error.value

    result: ConnectorError = _run(test)
    assert TOKEN not in str(result)
    return result


def test_refusals_say_whether_to_retry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gone = _error(lambda r: r.script(Reply(404, body=f"no_service {PATH}".encode())))
    assert str(gone) == (
        "System/ops-chat (webhook at 127.0.0.1): the service refused the webhook "
        "(404 no_service <webhook>): it was revoked, or the URL is wrong"
    )
    assert not gone.retryable
    bad = _error(lambda r: r.script(Reply(400, body=b"invalid_payload")))
    assert str(bad).endswith("the service refused the message (400 invalid_payload)")
    assert not bad.retryable
    throttled = _error(lambda r: r.throttle("30"))
    assert str(throttled) == (
        "System/ops-chat (webhook at 127.0.0.1): the service answered 429; "
        "the service asks to wait 30s (Retry-After)"
    )
    assert throttled.retryable
    down = _error(lambda r: r.fail(status=503, body=b"upstream down"))
    assert str(down).endswith("the service answered 503 upstream down")
    assert down.retryable
    assert "HTTP Request: POST" in caplog.text, "httpx logged no request: nothing was checked"
    assert TOKEN not in caplog.text


def test_an_unreachable_service_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def go() -> None:
        conn = await ChatConnector().open({"webhook": f"http://127.0.0.1:{port}{PATH}"}, "c")
        try:
            await conn.send(OutgoingMessage(to="", body="x"))
        finally:
            await conn.close()

    with pytest.raises(ConnectionFailed) as error:
        asyncio.run(go())
    assert str(error.value) == (
        "System/c (webhook at 127.0.0.1): cannot reach the service (ConnectError)"
    )
    assert error.value.retryable


def test_bad_messages_and_a_bad_url_are_refused() -> None:
    async def test(receiver: Receiver) -> list[str]:
        said = []
        for message in (
            OutgoingMessage(to="", body=[1, 2]),
            OutgoingMessage(to="", body={}),
            OutgoingMessage(to="#a b", body="x"),
        ):
            with pytest.raises(StatementError) as error:
                await _send_to(receiver, message)
            said.append(str(error.value))
        assert receiver.requests == []
        return said

    assert [s.split(": ", 1)[0] for s in _run(test)] == [
        "System/ops-chat (body)",
        "System/ops-chat (body)",
        "System/ops-chat (to)",
    ]
    with pytest.raises(ConnectorError) as error:
        asyncio.run(ChatConnector().open({"webhook": f"ftp://x{PATH}"}, "c"))
    assert str(error.value) == "System/c (webhook): the webhook is not an http(s) URL"
    assert SPEC.problems({"webhook": f"https://hooks.example{PATH}"}) == [
        (("webhook",), "is a secret: give it as a ${secret:NAME} reference, never the value")
    ]
