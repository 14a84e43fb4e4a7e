"""What one delivery attempt came to, whatever the target: the dispatcher turns it into an
outcome with the retry schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from interlink.events.delivery.queue import Job


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None = None  # the HTTP status, for webhooks
    error: str | None = None  # one line: why it failed
    response: str | None = None  # the start of the receiver's answer
    retry_after: float | None = None  # seconds the receiver asked to wait (429/503)
    gone: bool = False  # the receiver answered 410: stop delivering to it


class Sender(Protocol):
    """Delivers one job; never raises for a failed delivery, it returns the failure."""

    #: Whether an attempt runs with its trace context current even when the event's trace is
    #: not recorded (a flow run links to it, a handler may read it). A sender that does not
    #: need it (a webhook) passes such an event's own ``traceparent`` on by itself, and the
    #: dispatcher spares each of its deliveries the context (events/tracing.py).
    needs_trace_context: bool

    async def send(self, job: Job) -> Attempt: ...

    async def aclose(self) -> None: ...
