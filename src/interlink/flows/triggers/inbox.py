"""A consumed source over a System whose connector receives messages (amqp, nats…).

The inbox is opened through the process's connections on the first ``receive`` and kept; when
the broker goes away it is closed and opened again on the next ``receive`` (the consumer backs
off in between). Each message becomes a :class:`Delivery` whose input is::

    {"body": <the body parsed as JSON, or its text when it is not JSON>,
     "headers": {"name": "value", ...},
     "from": "<the queue or subject it came from>",
     "key": "<the message's key: its id, or what the connector derives>"}

A body that is not UTF-8 is given base64-encoded, with ``"encoding": "base64"`` beside it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from interlink.connectors.base import Inbox, Received
from interlink.connectors.connections import Connections
from interlink.flows.triggers.sources import JSON, Delivery


def message_input(received: Received) -> JSON:
    """A received message as the input of the run it starts."""
    out: dict[str, Any] = {}
    try:
        text = received.body.decode()
    except UnicodeDecodeError:
        out["body"] = base64.b64encode(received.body).decode()
        out["encoding"] = "base64"
    else:
        try:
            out["body"] = json.loads(text)
        except ValueError:
            out["body"] = text
    out["headers"] = dict(received.headers)
    out["from"] = received.source
    out["key"] = received.key
    return out


@dataclass(frozen=True)
class InboxSource:
    """Consumes ``source`` of ``system`` with the trigger's connector ``options``."""

    system: str
    connector: str
    connection: Mapping[str, Any] | None
    source: str
    options: tuple[tuple[str, Any], ...] = ()
    flow: str | None = None  # the flow it feeds: its calls are counted under it
    connections: Connections = field(default_factory=Connections, compare=False, repr=False)
    _inbox: list[Inbox] = field(default_factory=list, compare=False, repr=False)

    async def receive(self) -> Delivery:
        if not self._inbox:
            connection = await self.connections.get(
                self.system, self.connector, self.connection, caller=self.flow
            )
            self._inbox.append(await connection.subscribe(self.source, dict(self.options)))
        try:
            received = await self._inbox[0].receive()
        except Exception:
            await self.aclose()  # opened again on the next receive
            raise
        return Delivery(
            received.key,
            message_input(received),
            received.ack,
            received.nack,
            received.acks_in_call_order,
        )

    async def aclose(self) -> None:
        inboxes, self._inbox[:] = list(self._inbox), []
        for inbox in inboxes:
            await inbox.close()
