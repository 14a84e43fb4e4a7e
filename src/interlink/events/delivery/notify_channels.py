"""Telling the owning Team on its channels: a JSON document to its webhooks, a chat message.

:class:`ChannelNotifier` does what :class:`~interlink.events.delivery.notify.LogNotifier` does
(one log line, recent notices kept for the admin API) and then, in the background, POSTs the
notice to each of the Team's channels:

- ``webhook``: a JSON document (``kind``, ``subject``, ``team``, ``summary``, ``at``,
  ``details``), ``content-type: application/json``;
- ``chat``: ``{"text": "…"}``, which Slack, Mattermost and Teams incoming webhooks accept;
- ``email``: not sent; the notice says email needs an SMTP relay, which is not configured.

Channel URLs may be ``${secret:…}`` references, resolved at the moment of sending. A URL is
never logged or shown: a reference is shown as written, a literal URL as its scheme and host
only (chat webhook URLs carry their credential in the path). Each POST has a short timeout and
a few attempts with backoff; ``notify`` returns at once, so a slow channel never holds up
delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import httpx

from interlink.errors import ConfigError
from interlink.estate.kinds.organisation import Channel, ChannelType
from interlink.estate.references import SecretSource, has_reference, resolve
from interlink.events.delivery.notify import LogNotifier, Notice
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.events.delivery")

USER_AGENT: Final = "interlink-notifier"
ChannelResult = Literal["pending", "sent", "failed", "skipped"]


def shown_target(channel: Channel) -> str:
    """What may be shown of a channel's target: a reference as written, an email address, or
    a literal URL's scheme and host (its path and query may hold a credential)."""
    if channel.type is ChannelType.EMAIL or has_reference(channel.to):
        return channel.to
    parts = urlsplit(channel.to)
    host = parts.hostname or "?"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/…"


@dataclass
class ChannelOutcome:
    """How telling one channel went."""

    type: str
    target: str  # as :func:`shown_target` shows it
    name: str | None = None
    state: ChannelResult = "pending"
    attempts: int = 0
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "target": self.target,
            "state": self.state,
            "attempts": self.attempts,
            "detail": self.detail,
        }


@dataclass
class NoticeRecord:
    notice: Notice
    channels: list[ChannelOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        n = self.notice
        return {
            "kind": n.kind,
            "subject": n.subject,
            "team": n.team,
            "summary": n.summary,
            "at": n.at.isoformat(),
            "details": dict(n.details),
            "channels": [c.as_dict() for c in self.channels],
        }


def webhook_document(notice: Notice) -> dict[str, Any]:
    return {
        "kind": notice.kind,
        "subject": notice.subject,
        "team": notice.team,
        "summary": notice.summary,
        "at": notice.at.isoformat(),
        "details": dict(notice.details),
    }


def chat_message(notice: Notice) -> dict[str, str]:
    team = f" (team {notice.team})" if notice.team else ""
    return {"text": f"[interlink] {notice.kind}: {notice.subject}{team}\n{notice.summary}"}


class ChannelNotifier(LogNotifier):
    """Logs and keeps each notice, then tells the owning Team's webhook and chat channels."""

    def __init__(
        self,
        secrets: SecretSource | None = None,
        *,
        keep: int = 200,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(keep)
        self.secrets = secrets or SecretSource()
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._transport = transport
        self._owned: httpx.AsyncBaseTransport | None = None
        self._records: deque[NoticeRecord] = deque(maxlen=keep)
        self._tasks: set[asyncio.Task[None]] = set()

    async def notify(self, notice: Notice) -> None:
        await super().notify(notice)
        record = NoticeRecord(notice)
        self._records.append(record)
        for channel in notice.channels:
            outcome = ChannelOutcome(channel.type.value, shown_target(channel), channel.name)
            record.channels.append(outcome)
            if channel.type is ChannelType.EMAIL:
                outcome.state = "skipped"
                outcome.detail = "email needs an SMTP relay, which is not configured"
                log.info(
                    "notice %s for team %s: email channel %s not sent: %s",
                    notice.kind,
                    notice.team or "-",
                    outcome.target,
                    outcome.detail,
                )
                continue
            task = asyncio.create_task(self._send(channel, notice, outcome))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def records(self) -> list[NoticeRecord]:
        """The notices kept with how each channel was told, oldest first."""
        return list(self._records)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the channel messages under way (for tests and shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def aclose(self, grace: float = 2.0) -> None:
        """Give messages under way ``grace`` seconds, cancel the rest, close the client."""
        await self.drain(grace)
        await cancel_and_wait(list(self._tasks))
        if self._owned is not None:
            await self._owned.aclose()
            self._owned = None

    async def _post(self, url: str, document: Mapping[str, Any]) -> int:
        """POST ``document``; the answer's status. Sent on the transport directly: httpx's
        client logs every request URL, and a channel URL must never reach the log."""
        transport = self._transport
        if transport is None:
            if self._owned is None:
                self._owned = httpx.AsyncHTTPTransport()
            transport = self._owned
        request = httpx.Request(
            "POST",
            url,
            json=document,
            headers={"user-agent": USER_AGENT},
            extensions={"timeout": httpx.Timeout(self.timeout).as_dict()},
        )
        async with asyncio.timeout(self.timeout):
            response = await transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response.status_code

    async def _send(self, channel: Channel, notice: Notice, outcome: ChannelOutcome) -> None:
        try:
            url = resolve(channel.to, self.secrets)
        except ConfigError as exc:
            self._failed(notice, outcome, f"cannot resolve the channel: {exc.message}")
            return
        if urlsplit(url).scheme not in ("http", "https"):
            self._failed(notice, outcome, "the channel does not resolve to an http(s) URL")
            return
        payload = chat_message(notice) if channel.type is ChannelType.CHAT else None
        document = payload if payload is not None else webhook_document(notice)
        detail = ""
        for attempt in range(1, self.attempts + 1):
            outcome.attempts = attempt
            try:
                status = await self._post(url, document)
            except Exception as exc:
                # Only the exception's kind: its text may quote the URL.
                detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            else:
                if 200 <= status < 300:
                    outcome.state = "sent"
                    outcome.detail = f"HTTP {status}"
                    log.info(
                        "notice %s for team %s sent to %s channel %s",
                        notice.kind,
                        notice.team or "-",
                        outcome.type,
                        outcome.target,
                    )
                    return
                detail = f"HTTP {status}"
                if 400 <= status < 500 and status not in (408, 429):
                    break  # the channel refuses this message; asking again will not help
            if attempt < self.attempts:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        self._failed(notice, outcome, detail)

    @staticmethod
    def _failed(notice: Notice, outcome: ChannelOutcome, detail: str) -> None:
        outcome.state = "failed"
        outcome.detail = detail
        log.warning(
            "notice %s for team %s not delivered to %s channel %s after %d attempt(s): %s",
            notice.kind,
            notice.team or "-",
            outcome.type,
            outcome.target,
            outcome.attempts,
            detail,
        )


__all__ = ["ChannelNotifier", "ChannelOutcome", "NoticeRecord", "shown_target"]
