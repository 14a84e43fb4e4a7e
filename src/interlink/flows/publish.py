"""A flow's ``publish`` step through the mesh's ingress, as any publisher's event would go.

The event's id is ``<run id>:<step name>``, the same when a resumed run publishes again, so the
bus takes it once (its deduplication window) and a repeat is a success. A refusal the same
event would meet again (an unknown type, data its schema refuses) fails the step at once; a bus
that cannot take events now (503) or asks to slow down (429) is retried.
"""

from __future__ import annotations

import json
from typing import Any

from interlink.events.ingress import FLOW_SOURCE, EventIngress
from interlink.flows.engine import Publisher
from interlink.flows.retry import StepFailed, retryable_status

#: The CloudEvents ``source`` of events flows publish.
SOURCE = FLOW_SOURCE


def ingress_publisher(ingress: EventIngress, source: str = SOURCE) -> Publisher:
    async def publish(event_type: str, data: Any, event_id: str) -> None:
        body = json.dumps(data, separators=(",", ":")).encode()
        reply = await ingress.publish_data(event_type, body, id=event_id, source=source)
        if reply.status < 300:
            return
        try:
            detail = str(json.loads(reply.body).get("detail", ""))
        except ValueError:
            detail = ""
        raise StepFailed(
            f"the bus refused {event_type} ({reply.status}){': ' + detail if detail else ''}",
            retryable=retryable_status(reply.status),
        )

    return publish
