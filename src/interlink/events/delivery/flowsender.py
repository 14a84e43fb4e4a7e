"""Delivery to a Flow: each event starts one run, recorded before the event is acked.

The delivery layer does not know flows (they sit above it); the process that runs them hands
the engine a :class:`FlowStarter`. The run's id is derived from the subscription and the event's
id, so an event the bus hands out again (a node died before acking it, a retried attempt)
finds its run already recorded and starts no second one. ``send`` succeeds once the run is
recorded; the run itself goes on in the flow engine, and its failures are the run's, not the
delivery's. Failing to record it (the store away) is a failed attempt, retried and
dead-lettered on the subscription's schedule like a webhook's. A flow that cannot start at all
(a step kind the engine does not run) is a subscription that does not start: its events wait
in the bus until a revision fixes the flow.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Final, Protocol

from interlink.errors import InterlinkError
from interlink.events.delivery.attempt import Attempt
from interlink.events.delivery.queue import Job


class FlowStarter(Protocol):
    def refusal(self, flow: str) -> str | None:
        """Why runs of ``flow`` cannot start now (unknown, a step kind not run); None if
        they can."""

    async def record(self, flow: str, run_id: str, trigger: str, input: Any) -> None:
        """Record run ``run_id`` of ``flow`` (nothing when it exists); raise when it cannot."""


_NAMESPACE: Final = uuid.UUID("6f1d8a52-3c0e-4d6b-9a57-6d0b5e2f9c11")


def event_run_id(subscription: str, event_id: str) -> str:
    """The id of the run an event starts through a subscription: the same every time."""
    return str(uuid.uuid5(_NAMESPACE, f"{subscription}\x00{event_id}"))


class FlowSender:
    """Starts a run of ``flow`` with each job's event data as its input."""

    needs_trace_context = True

    def __init__(self, subscription: str, flow: str, starter: FlowStarter) -> None:
        self.subscription = subscription
        self.flow = flow
        self._starter = starter

    async def send(self, job: Job) -> Attempt:
        try:
            event = json.loads(job.body)
        except ValueError as exc:
            return Attempt(False, error=f"the stored event is not JSON: {exc}")
        data = event.get("data") if isinstance(event, dict) else None
        run_id = event_run_id(self.subscription, job.event_id)
        trigger = f"event:{self.subscription}:{job.event_id}"
        try:
            await self._starter.record(self.flow, run_id, trigger, data)
        except InterlinkError as exc:
            return Attempt(False, error=f"Flow/{self.flow}: {exc.message}"[:1000])
        except Exception as exc:  # the store away, for one: tried again on the schedule
            text = " ".join(str(exc).split()) or type(exc).__name__
            return Attempt(False, error=f"Flow/{self.flow}: {text}"[:1000])
        return Attempt(True)

    async def aclose(self) -> None:
        return None
