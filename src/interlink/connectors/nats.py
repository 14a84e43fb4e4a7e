"""``nats``: a NATS server with JetStream, through nats-py.

``send`` is a JetStream publish to the subject ``to``: it returns once a stream has stored the
message (its PubAck), and fails when no stream takes the subject (ObjectNotFound). The message's
``key`` goes in the ``Nats-Msg-Id`` header, so the stream stores a message sent twice within its
duplicate window (two minutes by default) once.

``subscribe`` reads a subject through a durable pull consumer of the stream that holds it (the
``stream`` option, or the one whose subjects match): the consumer is created on first use, named
after the trigger (``durable`` to name it yourself), and keeps the position on the server. A
message is acked once its run is recorded and nak'd (redelivered) when it cannot be; one not
acked within ``ackWait`` is redelivered too. A received message's key is its ``Nats-Msg-Id``
when it has one, otherwise ``<stream>:<stream sequence>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors import schemas
from interlink.connectors.base import Connection, Connector
from interlink.connectors.spec import Capability, ConnectorSpec

SPEC = ConnectorSpec(
    name="nats",
    title="NATS JetStream",
    description="NATS JetStream (nats-py): deduplicated publish, durable pull consumers.",
    interface="messages",
    config={
        "$schema": schemas.DIALECT,
        "type": "object",
        "required": ["url"],
        "additionalProperties": False,
        "properties": {
            "url": {
                "type": "string",
                "pattern": "^(nats|tls)://",
                "x-secretInUrl": True,
                "description": "nats://host:4222 (tls:// for TLS); a password in it only as a "
                "reference",
            },
            "user": {"type": "string", "description": "the user, with password"},
            "password": {
                "type": "string",
                "writeOnly": True,
                "description": "the user's password",
            },
            "token": {
                "type": "string",
                "writeOnly": True,
                "description": "an authentication token, instead of user and password",
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 5,
                "description": "seconds to connect, and to wait for a stream's PubAck",
            },
        },
    },
    capabilities=(
        Capability(
            "trigger",
            "a Flow's trigger.consume reads a subject through a durable pull consumer",
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "stream": {
                        "type": "string",
                        "description": "the stream (default: the one whose subjects match)",
                    },
                    "durable": {
                        "type": "string",
                        "pattern": "^[A-Za-z0-9_-]+$",
                        "description": "the consumer's name (default: derived from the trigger)",
                    },
                    "batch": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 1000,
                        "default": 10,
                        "description": "messages fetched at once",
                    },
                    "ackWait": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "default": 30,
                        "description": "seconds before a message not acked is redelivered",
                    },
                },
            },
        ),
        Capability("write", "send steps publish to the subject `to` (Nats-Msg-Id: the key)"),
    ),
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: telemetry, owner: platform}
spec:
  domain: platform
  connector: nats
  connection:
    url: nats://nats.internal.example:4222
    user: interlink
    password: ${secret:NATS_PASSWORD}
""",
)


class NatsConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        from interlink.connectors.nats_client import open_connection  # nats-py: on first use

        return await open_connection(config, system)
