"""Rules both backends share, so the conformance suite sees the same behaviour on each."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from interlink.errors import PayloadTooLarge, UnknownEventType
from interlink.events.bus import Envelope

Clock = Callable[[], datetime]

DEFAULT_ACK_WAIT: Final = 60.0
# On a shared bus a node that dies leaves what it pulled and had not acked in NATS until the ack
# wait ends; the delivery layer acks within moments of a pull (and extends the wait while its
# queue is down), so a short wait costs nothing and lets another node take such events soon.
SHARED_ACK_WAIT: Final = 10.0
# Redelivery of an event pulled and never acked: after ack_wait, then 2x, 5x and 10x it. The
# bus only guards against lost hand-outs (a crashed worker); retry schedules for failed
# deliveries belong to the delivery layer, which acks what it has taken charge of.
BACKOFF_FACTORS: Final = (1, 2, 5, 10)


def utcnow() -> datetime:
    return datetime.now(UTC)


def redelivery_delays(ack_wait: float) -> list[float]:
    """Seconds before the 1st, 2nd, 3rd… redelivery; the last value repeats."""
    return [ack_wait * factor for factor in BACKOFF_FACTORS]


def redelivery_delay(ack_wait: float, deliveries: int) -> float:
    """How long an event handed out ``deliveries`` times may stay unacked."""
    delays = redelivery_delays(ack_wait)
    return delays[min(deliveries, len(delays)) - 1]


def check_batch(envelopes: Sequence[Envelope], max_payload: Mapping[str, int]) -> None:
    """Refuse the whole batch before anything is appended: unknown types and oversize bodies."""
    for envelope in envelopes:
        limit = max_payload.get(envelope.type)
        if limit is None:
            raise UnknownEventType(f"no stream for event type {envelope.type!r}")
        if len(envelope.body) > limit:
            raise PayloadTooLarge(
                f"event {envelope.id!r} of type {envelope.type!r} is {len(envelope.body)} bytes;"
                f" the stream accepts at most {limit}"
            )
