"""``chat``: messages posted to a chat incoming webhook, Slack's payload format (httpx).

Slack's incoming webhooks take it, and so do the services that speak Slack's format: Mattermost,
Rocket.Chat, Discord's ``/slack`` endpoint, Zulip's Slack integration. A body that is a string
is posted as ``{"text": ...}``; an object is the payload itself (``blocks``, ``attachments``,
``text``...). The message's ``to``, or the System's ``channel``, names the channel where the
service lets a webhook choose (Slack's own webhooks post where they were made).

The webhook's URL is its credential: it is a secret reference, and it never appears in an error
or a log line (httpx logs each request's URL: ``chat_client``'s filter masks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors import schemas
from interlink.connectors.base import Connection, Connector
from interlink.connectors.spec import Capability, ConnectorSpec

SPEC = ConnectorSpec(
    name="chat",
    title="Chat webhook (Slack-compatible)",
    description="Messages posted to a Slack-compatible incoming webhook (Slack, Mattermost...).",
    interface="messages",
    config=schemas.connection(
        {
            "webhook": {
                "type": "string",
                "writeOnly": True,
                "description": "the incoming webhook's URL, as a ${secret:NAME} reference: "
                "whoever has the URL can post",
            },
            "channel": {
                "type": "string",
                "pattern": "^[^\\s]+$",
                "description": "channel of a message that names none, where the service lets "
                "a webhook choose",
            },
            "username": {
                "type": "string",
                "minLength": 1,
                "description": "name the messages are posted under, where the service allows",
            },
            "timeout": {
                "type": "integer",
                "minimum": 1,
                "maximum": 120,
                "default": 10,
                "description": "seconds to wait for the service",
            },
        },
        required=["webhook"],
    ),
    capabilities=(
        Capability(
            "write",
            "send steps post a message: a string as text, an object as the Slack payload "
            "(blocks, attachments); to names the channel",
        ),
    ),
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: ops-chat, owner: platform}
spec:
  domain: platform
  connector: chat
  connection:
    webhook: ${secret:ops-chat-webhook}
    channel: "#ops-alerts"
    username: Interlink
""",
)


class ChatConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        from interlink.connectors.chat_client import open_connection  # httpx: on first use

        return await open_connection(config, system)
