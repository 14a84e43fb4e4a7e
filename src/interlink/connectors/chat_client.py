"""The httpx side of the ``chat`` connector (see :mod:`interlink.connectors.chat`):
httpx is imported here, when a System first connects, so that a process that never
uses it does not pay for importing it."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import httpx

from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    ConnectorError,
    OutgoingMessage,
    StatementError,
)

REDACTED_URL = "<webhook>"


class _HideWebhooks(logging.Filter):
    """Masks the webhook URLs of open connections in the log records it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        text = record.getMessage()
        masked = text
        for secret in sorted(self.secrets, key=len, reverse=True):
            masked = masked.replace(secret, REDACTED_URL)
        if masked != text:
            record.msg, record.args = masked, ()
        return True


_HIDE = _HideWebhooks()
logging.getLogger("httpx").addFilter(_HIDE)


def _forms(url: str) -> list[str]:
    """The ways a log line or an answer may spell ``url``: as given, as httpx writes it, and
    its path (which holds the token)."""
    parsed = httpx.URL(url)
    path = parsed.raw_path.decode("ascii", "replace")
    return [f for f in {url, str(parsed), path} if len(f) > 8]


def _retry_after(response: httpx.Response) -> str:
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return f"; the service asks to wait {value}s (Retry-After)"
    return f"; the service asks to wait until {value} (Retry-After)" if value else ""


class ChatConnection(Connection):
    def __init__(self, config: Mapping[str, Any], system: str) -> None:
        self.system = system
        self._url = str(config["webhook"])
        self._channel = config.get("channel")
        self._username = config.get("username")
        try:
            parsed = httpx.URL(self._url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConnectorError(
                "the webhook is not an http(s) URL", system=system, object="webhook"
            )
        self._object = f"webhook at {parsed.host}"
        self._secrets = _forms(self._url)
        _HIDE.secrets.update(self._secrets)
        self._client = httpx.AsyncClient(
            timeout=float(config.get("timeout", 10)), follow_redirects=False
        )

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        """The JSON posted for ``message``; StatementError when it cannot be one."""
        channel = message.to.strip() or self._channel
        if channel and any(c.isspace() or ord(c) < 32 for c in channel):
            raise StatementError(
                "a channel is one word, without spaces or line breaks",
                system=self.system,
                object="to",
            )
        if isinstance(message.body, str):
            body: dict[str, Any] = {"text": message.body}
        elif isinstance(message.body, Mapping) and message.body:
            body = dict(message.body)
        else:
            raise StatementError(
                "a chat message is text, or an object that is the Slack payload (text, blocks)",
                system=self.system,
                object="body",
            )
        if channel:
            body.setdefault("channel", channel)
        if self._username:
            body.setdefault("username", self._username)
        return body

    def _hide(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED_URL)
        return " ".join(text.split())[:200]

    async def send(self, message: OutgoingMessage) -> None:
        body = self.payload(message)
        try:
            response = await self._client.post(self._url, json=body)
        except httpx.TimeoutException:
            raise ConnectionFailed(
                "the service did not answer in time",
                system=self.system,
                object=self._object,
                retryable=True,
            ) from None
        except httpx.TransportError as exc:  # its text may hold the URL: only its kind
            raise ConnectionFailed(
                f"cannot reach the service ({type(exc).__name__})",
                system=self.system,
                object=self._object,
                retryable=True,
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        said = self._hide(response.text)
        reason = f"{status}" + (f" {said}" if said else "")
        if status == 429 or status >= 500:
            raise ConnectorError(
                f"the service answered {reason}" + _retry_after(response),
                system=self.system,
                object=self._object,
                retryable=True,
            )
        if status in (401, 403, 404, 410):
            raise ConnectorError(
                f"the service refused the webhook ({reason}): it was revoked, or the URL is wrong",
                system=self.system,
                object=self._object,
            )
        raise ConnectorError(
            f"the service refused the message ({reason})",
            system=self.system,
            object=self._object,
        )

    async def close(self) -> None:
        await self._client.aclose()
        _HIDE.secrets.subtract(self._secrets)
        for secret in self._secrets:
            if _HIDE.secrets[secret] <= 0:
                del _HIDE.secrets[secret]


async def open_connection(config: Mapping[str, Any], system: str) -> Connection:
    """Opens a System's connection: what :meth:`ChatConnector.open` does."""
    # Nothing to probe: posting is the only request a webhook answers.
    return ChatConnection(config, system)
