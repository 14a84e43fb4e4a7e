"""Delivery to a Flow: each event starts one run, recorded before the event is acked.

The delivery layer does not know flows (they sit above it); the process that runs them hands
the engine a :data:`StartFlow`. The run's id is derived from the subscription and the event's
id, so an event the bus hands out again (a node died before acking it, a retried attempt)
finds its run already recorded and starts no second one. ``send`` succeeds once the run is
recorded; the run itself goes on in the flow engine, and its failures are the run's, not the
delivery's. Refusing to record it (the store away, a flow that cannot start) is a failed
attempt, retried and dead-lettered on the subscription's schedule like a webhook's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from interlink.errors import InterlinkError
from interlink.events.delivery.attempt import Attempt
from interlink.events.delivery.queue import Job

#: Records a run: (flow, run id, trigger, input). Raises when it cannot.
StartFlow = Callable[[str, str, str, Any], Awaitable[None]]

_NAMESPACE: Final = uuid.UUID("6f1d8a52-3c0e-4d6b-9a57-6d0b5e2f9c11")


def event_run_id(subscription: str, event_id: str) -> str:
    """The id of the run an event starts through a subscription: the same every time."""
    return str(uuid.uuid5(_NAMESPACE, f"{subscription}\x00{event_id}"))


class FlowSender:
    """Starts a run of ``flow`` with each job's event data as its input."""

    def __init__(self, subscription: str, flow: str, start: StartFlow) -> None:
        self.subscription = subscription
        self.flow = flow
        self._start = start

    async def send(self, job: Job) -> Attempt:
        try:
            event = json.loads(job.body)
        except ValueError as exc:
            return Attempt(False, error=f"the stored event is not JSON: {exc}")
        data = event.get("data") if isinstance(event, dict) else None
        run_id = event_run_id(self.subscription, job.event_id)
        trigger = f"event:{self.subscription}:{job.event_id}"
        try:
            await self._start(self.flow, run_id, trigger, data)
        except InterlinkError as exc:
            return Attempt(False, error=f"Flow/{self.flow}: {exc.message}"[:1000])
        except Exception as exc:  # the store away, for one: tried again on the schedule
            text = " ".join(str(exc).split()) or type(exc).__name__
            return Attempt(False, error=f"Flow/{self.flow}: {text}"[:1000])
        return Attempt(True)

    async def aclose(self) -> None:
        return None
