"""``mqtt``: an MQTT 5 broker, through aiomqtt (over paho-mqtt).

``send`` publishes with QoS 1 and returns once the broker's PUBACK is back, and fails when the
PUBACK's reason code refuses the message; the body's content type, the headers (as user
properties) and the message's key (as the ``message-id`` user property) ride along.

``subscribe`` takes a topic filter with QoS 1 in a persistent session: clean start off, a
session expiry (``sessionExpiry``), and a client id stable for the System and the filter, so the
broker keeps the subscription and the messages that arrive while the consumer is away.

Acks. A message's PUBACK is sent only when :meth:`Received.ack` is called, so one handed out and
never acked (the process died, the run was not recorded) is sent again by the broker when the
session reconnects (MQTT 5 §4.4: unacknowledged PUBLISH packets are resent, with their packet
ids, on a reconnect with clean start off). paho-mqtt 2 does this with its documented
``manual_ack_set(True)`` and ``ack(mid, qos)``; aiomqtt 2.5 wraps a paho client but does not
expose them (empicano/aiomqtt#345), so :func:`_paho` reaches the wrapped client, in this one
place, which is why aiomqtt and paho-mqtt are pinned to a minor version. A consuming client's
reads are buffered and its QoS 1 PUBACKs written straight to the socket (:func:`_read_buffered`,
:func:`_puback`): paho's own path cost a message several system calls and loop wake-ups.

``nack`` cannot ask the broker to resend on the same connection (MQTT has no negative ack): it
closes the connection without the PUBACK and the next ``receive`` reconnects, so the broker
resends every unacknowledged message of the session, in order, the nacked one first. MQTT
wants PUBACKs in the order the messages came: the consume trigger acks in that order whatever
its concurrency.

Keys. MQTT gives a message no id that survives a resend but its packet id, which the broker
reuses for other messages. A message with a ``message-id`` user property (which ``send`` sets
from the outgoing message's key) is keyed by it; any other is keyed by a hash of its topic and
payload, so a message resent after a reconnect keeps its key, and two messages with the same
payload on the same topic count as one (their run is started once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors import schemas
from interlink.connectors.base import Connection, Connector
from interlink.connectors.spec import Capability, ConnectorSpec

SPEC = ConnectorSpec(
    name="mqtt",
    title="MQTT",
    description="An MQTT 5 broker (aiomqtt): QoS 1 publish, and persistent subscriptions acked "
    "once the run is recorded.",
    interface="messages",
    config=schemas.connection(
        {
            "host": schemas.host("broker"),
            "port": schemas.port(1883, "broker port (8883 is the usual one with TLS)"),
            "username": {"type": "string", "minLength": 1, "description": "user to log in as"},
            "password": schemas.password(),
            "tls": schemas.tls("broker"),
            "keepalive": {
                "type": "integer",
                "minimum": 5,
                "maximum": 65535,
                "default": 60,
                "description": "seconds between keepalive pings",
            },
            "connectTimeout": schemas.connect_timeout(
                "seconds to wait for the broker (a connection, a PUBACK, a SUBACK)"
            ),
        },
        required=["host"],
    ),
    capabilities=(
        Capability(
            "trigger",
            "a Flow's trigger.consume starts a run per message on a topic filter (QoS 1, a "
            "persistent session); a message is acked once its run is recorded, one not acked is "
            "sent again when the session reconnects",
            {
                "type": "object",
                "properties": {
                    "clientId": {
                        "type": "string",
                        "description": "the session's client id (default: one derived from "
                        "the System and the topic filter)",
                    },
                    "sessionExpiry": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "seconds the broker keeps the session while the "
                        "consumer is away (default 86400)",
                    },
                },
            },
        ),
        Capability(
            "write",
            "send steps publish to a topic with QoS 1 and wait for the broker's PUBACK",
            schemas.send_to("topic"),
        ),
    ),
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: plant-broker, owner: operations}
spec:
  domain: operations
  connector: mqtt
  connection:
    host: mqtt.internal.example
    port: 8883
    tls: true
    username: interlink
    password: ${secret:plant-broker-password}
""",
)


class MqttConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        from interlink.connectors.mqtt_client import open_connection  # aiomqtt: on first use

        return await open_connection(config, system)
