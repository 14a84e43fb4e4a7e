"""One alert message to one Team channel: a signed webhook, a chat message, or an email.

Each channel reuses what the platform already sends with: webhooks are signed as event
deliveries are (``events/signing.py``, Standard Webhooks) and posted on the platform's HTTP
client; chat goes through the ``chat`` connector (Slack's payload); email through the ``smtp``
connector of the System the Platform names in ``spec.alerts.mail``. Every failure is a
:class:`ChannelFailed` that says in one line what went wrong, never a channel's URL or secret,
and whether trying again may help.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from interlink.connectors.base import ConnectorError, OutgoingMessage
from interlink.connectors.connections import Connections
from interlink.errors import ConfigError
from interlink.estate.kinds import System
from interlink.estate.kinds.organisation import Channel, ChannelType
from interlink.estate.model import Estate
from interlink.estate.references import SecretSource, resolve
from interlink.events.delivery.notify_channels import shown_target
from interlink.events.delivery.webhook import ClientLimits, PooledClient, WebhookClient
from interlink.events.signing import parse_secret, signature_headers
from interlink.observe.wording import resolved_summary
from interlink.store.alerts import Alert, NotificationKind

USER_AGENT: Final = "interlink-alerts"
MEDIA_TYPE: Final = "application/json"
_CHAT: Final = "alert-chat-"


class ChannelFailed(Exception):
    """A message not delivered: ``detail`` in one line, ``retryable`` when a later attempt may
    succeed (the channel was unreachable or answered 5xx/429), not when it refused it."""

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


@dataclass(frozen=True)
class Message:
    """An alert as one notification tells it."""

    notification: int  # the notification's id: the webhook-id and mail key across retries
    kind: NotificationKind
    team: str
    alert: Alert

    @property
    def subject(self) -> str:
        said = {"firing": "firing", "renotify": "still firing", "resolved": "resolved"}[self.kind]
        return f"[{self.alert.severity}] {self.alert.monitor} {said}"

    @property
    def summary(self) -> str:
        alert = self.alert
        if self.kind == "resolved" and alert.resolved_at is not None:
            lasted = (alert.resolved_at - alert.started_at).total_seconds()
            return resolved_summary(alert.summary, lasted)
        if self.kind == "renotify":
            return f"Still firing since {alert.started_at:%Y-%m-%d %H:%M} UTC. {alert.summary}"
        return alert.summary

    def text(self) -> str:
        """Chat and mail: the sentence first, the engineer's detail after it."""
        return f"{self.summary}\n\n{self.alert.detail}"

    def document(self) -> dict[str, Any]:
        """The webhook's JSON body."""
        alert = self.alert
        return {
            "type": f"alert.{self.kind}",
            "alert": {
                "id": alert.id,
                "monitor": alert.monitor,
                "monitorType": alert.type,
                "severity": alert.severity,
                "target": alert.target,
                "state": alert.state,
                "startedAt": alert.started_at.isoformat(),
                "resolvedAt": None if alert.resolved_at is None else alert.resolved_at.isoformat(),
                "facts": alert.facts,
            },
            "team": self.team,
            "summary": self.summary,
            "detail": alert.detail,
        }


def channel_of(stored: Mapping[str, Any]) -> Channel:
    """The channel as the notification stored it (the estate's spelling)."""
    return Channel.model_validate(stored)


def shown(channel: Channel) -> str:
    """What a log line or the API may show of a channel (never its URL's path or a secret)."""
    return f"{channel.type.value} {shown_target(channel)}"


class ChannelSenders:
    """Sends messages to channels; holds the HTTP client and the connector connections."""

    def __init__(
        self,
        secrets: SecretSource | None = None,
        *,
        connections: Connections | None = None,
        client: WebhookClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.secrets = secrets or SecretSource()
        self.connections = connections or Connections(secrets=self.secrets)
        self._client = client
        self.timeout = timeout

    async def send(self, channel: Channel, message: Message, estate: Estate) -> None:
        """Deliver ``message`` on ``channel``; ChannelFailed when it is not delivered."""
        if channel.type is ChannelType.WEBHOOK:
            await self._webhook(channel, message)
        elif channel.type is ChannelType.CHAT:
            await self._connector(
                _chat_system(channel), "chat", {"webhook": channel.to, "timeout": 10}, message, ""
            )
        else:
            system = _mail_system(estate)
            spec = system.spec
            await self._connector(
                system.name, spec.connector or "", spec.connection or {}, message, channel.to
            )

    async def _webhook(self, channel: Channel, message: Message) -> None:
        try:
            url = resolve(channel.to, self.secrets)
            keys = (
                [parse_secret(s) for s in resolve(channel.secret, self.secrets).split()]
                if channel.secret
                else []
            )
        except ConfigError as exc:
            raise ChannelFailed(
                f"cannot resolve the channel: {exc.message}", retryable=True
            ) from None
        if urlsplit(url).scheme not in ("http", "https"):
            raise ChannelFailed("the channel does not resolve to an http(s) URL", retryable=False)
        body = json.dumps(message.document(), separators=(",", ":")).encode()
        headers = {"content-type": MEDIA_TYPE, "user-agent": USER_AGENT}
        msg_id = f"alert_{message.notification}"
        if keys:
            headers.update(signature_headers(keys, msg_id, body, timestamp=int(time.time())))
        else:
            headers["webhook-id"] = msg_id
        if self._client is None:
            self._client = PooledClient(ClientLimits(max_connections=4))
        try:
            response = await self._client.post(url, body, headers, self.timeout)
        except TimeoutError:
            raise ChannelFailed("the receiver did not answer in time", retryable=True) from None
        except OSError as exc:  # its text may quote the URL: only its kind
            raise ChannelFailed(
                f"cannot reach the receiver ({type(exc).__name__})", retryable=True
            ) from None
        status = response.status
        if 200 <= status < 300:
            return
        retryable = status in (408, 429) or status >= 500
        raise ChannelFailed(f"the receiver answered HTTP {status}", retryable=retryable)

    async def _connector(
        self,
        system: str,
        connector: str,
        connection: Mapping[str, Any],
        message: Message,
        to: str,
    ) -> None:
        outgoing = OutgoingMessage(
            to=to,
            body=message.text(),
            subject=message.subject,
            key=f"alert-notification-{message.notification}",
        )
        try:
            opened = await self.connections.get(system, connector, connection)
            await opened.send(outgoing)
        except ConnectorError as exc:
            # A chat channel's System is made up here: only what happened is worth saying.
            said = exc.detail if system.startswith(_CHAT) else exc.message
            raise ChannelFailed(said, retryable=exc.retryable) from None
        except ConfigError as exc:
            raise ChannelFailed(exc.message, retryable=False) from None

    async def aclose(self) -> None:
        await self.connections.aclose()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _chat_system(channel: Channel) -> str:
    # One connection per chat webhook, named after a digest of how the estate writes it.
    return _CHAT + hashlib.sha256(channel.to.encode()).hexdigest()[:12]


def _mail_system(estate: Estate) -> System:
    name = estate.platform.spec.alerts.mail
    if not name:
        raise ChannelFailed(
            "email is not sent: the Platform names no mail System (spec.alerts.mail)",
            retryable=False,
        )
    found = estate.get("System", name)
    if found is None or not isinstance(found.obj, System):
        raise ChannelFailed(f"the mail System {name!r} is not in the estate", retryable=False)
    if found.obj.spec.connector != "smtp":
        raise ChannelFailed(
            f"the mail System {name!r} does not use the smtp connector", retryable=False
        )
    return found.obj


__all__ = ["ChannelFailed", "ChannelSenders", "Message", "channel_of", "shown"]
