"""``amqp``: a RabbitMQ broker (AMQP 0-9-1), through aio-pika.

``send`` publishes to the System's ``exchange`` (the default exchange unless set) with the
message's ``to`` as the routing key, ``mandatory`` and with publisher confirms: it returns once
the broker has routed and taken the message, and fails when no queue is bound to the routing key
(ObjectNotFound) rather than dropping it. The message's ``key`` is its ``message_id``.

``subscribe`` consumes a queue that exists (it is never declared: the broker's topology is the
broker's) with manual acks and ``prefetch`` messages unacked at most; ``nack`` hands the message
back to the queue (requeue). A received message's key is its ``message_id`` when it has one;
otherwise a SHA-256 of its body, headers and timestamp, which is stable across redeliveries but
the same for two identical messages: publishers that send identical messages meaning two
occurrences should set message ids (a ``send`` step always does).

Sends share one connection per System; each subscription has its own, so a consumer's channel
closing (a queue deleted) never disturbs the sends. A connection that drops is opened again on
the next use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors import schemas
from interlink.connectors.base import (
    Connection,
    Connector,
)
from interlink.connectors.spec import Capability, ConnectorSpec

SPEC = ConnectorSpec(
    name="amqp",
    title="AMQP (RabbitMQ)",
    description="A RabbitMQ broker over AMQP 0-9-1 (aio-pika): send with confirms, consume queues.",
    interface="messages",
    config={
        "$schema": schemas.DIALECT,
        "type": "object",
        "required": ["url"],
        "additionalProperties": False,
        "properties": {
            "url": {
                "type": "string",
                "pattern": "^amqps?://",
                "x-secretInUrl": True,
                "description": "amqp://user:${secret:NAME}@host:5672/vhost (amqps:// for TLS); "
                "the password only as a reference",
            },
            "exchange": {
                "type": "string",
                "default": "",
                "description": 'the exchange send steps publish to; the default exchange (""), '
                "where the routing key names a queue, unless set",
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 10,
                "description": "seconds to connect, and to wait for a publisher confirm",
            },
        },
    },
    capabilities=(
        Capability(
            "trigger",
            "a Flow's trigger.consume takes messages from a queue (manual ack, prefetch)",
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "prefetch": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 10000,
                        "default": 10,
                        "description": "messages the broker hands out before their acks",
                    }
                },
            },
        ),
        Capability(
            "write",
            "send steps publish to the exchange with the routing key `to`, mandatory, confirmed",
        ),
    ),
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: orders-broker, owner: sales}
spec:
  domain: sales
  connector: amqp
  connection:
    url: amqp://interlink:${secret:RABBIT_PASSWORD}@rabbit.internal.example:5672/sales
    exchange: orders
""",
)


class AmqpConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        from interlink.connectors.amqp_client import AmqpConnection  # aio-pika: on first use

        connection = AmqpConnection(config, system)
        try:
            await connection.connect()
        except BaseException:
            await connection.close()
            raise
        return connection
