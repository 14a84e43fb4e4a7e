"""ChannelNotifier against a real loopback HTTP server: formats, retries, redaction."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from interlink.estate.kinds.organisation import Channel, ChannelType
from interlink.estate.references import SecretSource
from interlink.events.delivery.notify import Notice
from interlink.events.delivery.notify_channels import ChannelNotifier, shown_target


class Channels:
    """Answers each path with the statuses queued for it (then 200), keeping every body."""

    def __init__(self) -> None:
        self.answers: dict[str, list[int]] = {}
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.delay = 0.0
        channels = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                time.sleep(channels.delay)
                channels.received.append((self.path, json.loads(body)))
                queued = channels.answers.get(self.path) or []
                self.send_response(queued.pop(0) if queued else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def at(self, path: str) -> list[dict[str, Any]]:
        return [doc for p, doc in self.received if p == path]


@pytest.fixture
def channels() -> Iterator[Channels]:
    found = Channels()
    yield found
    found.server.shutdown()


def notice(*channels: Channel) -> Notice:
    return Notice(
        kind="subscription-disabled",
        subject="Subscription/billing-hooks",
        team="finance",
        channels=channels,
        summary="Deliveries stopped: the receiver answered 410 Gone.",
        at=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        details={"status": "410"},
    )


def test_webhook_and_chat_are_told_and_email_is_skipped(
    channels: Channels, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = SecretSource(environ={"INTERLINK_SECRET_FIN_HOOK": channels.url("/hook/S3CRET")})
    notifier = ChannelNotifier(secrets, backoff=0.01)
    sent = notice(
        Channel(type=ChannelType.WEBHOOK, to="${secret:fin-hook}"),
        Channel(type=ChannelType.CHAT, to=channels.url("/chat/T0KEN")),
        Channel(type=ChannelType.EMAIL, to="finance@example.com"),
    )

    async def run() -> None:
        channels.answers["/hook/S3CRET"] = [503, 500]  # twice down, then up
        await notifier.notify(sent)
        await notifier.drain(10)
        await notifier.aclose()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(run())
    assert len(channels.at("/hook/S3CRET")) == 3
    document = channels.at("/hook/S3CRET")[-1]
    assert document == {
        "kind": "subscription-disabled",
        "subject": "Subscription/billing-hooks",
        "team": "finance",
        "summary": "Deliveries stopped: the receiver answered 410 Gone.",
        "at": "2026-11-22T10:00:00+00:00",
        "details": {"status": "410"},
    }
    (chat,) = channels.at("/chat/T0KEN")
    assert chat["text"].startswith("[interlink] subscription-disabled: Subscription/billing-hooks")
    (record,) = notifier.records()
    states = {c.type: (c.state, c.attempts) for c in record.channels}
    assert states == {"webhook": ("sent", 3), "chat": ("sent", 1), "email": ("skipped", 0)}
    assert notifier.recent() == [sent]
    assert "S3CRET" not in caplog.text
    assert "T0KEN" not in caplog.text
    assert "SMTP relay" in caplog.text


def test_failures_are_recorded_never_raised(
    channels: Channels, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = ChannelNotifier(SecretSource(environ={}), attempts=2, backoff=0.01, timeout=0.3)
    sent = notice(
        Channel(type=ChannelType.WEBHOOK, to="${secret:missing-hook}"),
        Channel(type=ChannelType.WEBHOOK, to=channels.url("/refuses/K3Y")),
        Channel(type=ChannelType.CHAT, to="http://127.0.0.1:9/closed/K3Y"),
    )
    channels.answers["/refuses/K3Y"] = [404, 404]

    async def run() -> None:
        began = time.perf_counter()
        await notifier.notify(sent)
        assert time.perf_counter() - began < 0.1  # never waits for a channel
        await notifier.drain(10)
        await notifier.aclose()

    asyncio.run(run())
    (record,) = notifier.records()
    outcomes = [(c.state, c.attempts, c.detail) for c in record.channels]
    assert outcomes[0][0] == "failed"
    assert "missing-hook" in (outcomes[0][2] or "")
    assert outcomes[1] == ("failed", 1, "HTTP 404")  # a 4xx is not asked again
    assert outcomes[2][:2] == ("failed", 2)
    assert "K3Y" not in caplog.text


def test_a_slow_channel_times_out(channels: Channels) -> None:
    channels.delay = 1.0
    notifier = ChannelNotifier(SecretSource(environ={}), attempts=1, timeout=0.2)

    async def run() -> None:
        await notifier.notify(notice(Channel(type=ChannelType.WEBHOOK, to=channels.url("/slow"))))
        await notifier.drain(5)
        await notifier.aclose()

    asyncio.run(run())
    (record,) = notifier.records()
    assert (record.channels[0].state, record.channels[0].detail) == ("failed", "timed out")


def test_targets_are_shown_without_their_paths() -> None:
    chat = Channel(type=ChannelType.CHAT, to="https://hooks.slack.com/services/T0/B0/XYZ")
    assert shown_target(chat) == "https://hooks.slack.com/…"
    ref = Channel(type=ChannelType.WEBHOOK, to="${secret:ops-hook}")
    assert shown_target(ref) == "${secret:ops-hook}"
    assert shown_target(Channel(type=ChannelType.EMAIL, to="a@b.c")) == "a@b.c"
