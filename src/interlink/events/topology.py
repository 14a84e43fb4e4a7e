"""What the bus holds for one estate: a stream per Event, a durable consumer per Subscription."""

from __future__ import annotations

from dataclasses import dataclass

from interlink.estate.kinds import Event
from interlink.estate.model import Estate
from interlink.estate.subscriptions import subscriptions
from interlink.events.bus import ConsumerSpec, StreamSpec


@dataclass(frozen=True)
class Topology:
    streams: tuple[StreamSpec, ...]
    consumers: tuple[ConsumerSpec, ...]


def topology_of(estate: Estate) -> Topology:
    """Streams take the Event's dedup window (else the Platform's) and the Platform's size cap.

    Every Subscription gets a consumer, flow targets included: a consumer is a cursor, and
    keeping it means no event is skipped while its target is not being delivered to.
    """
    settings = estate.platform.spec.events
    streams = tuple(
        StreamSpec(
            type=event.name,
            dedup_window=event.spec.dedup_window
            if event.spec.dedup_window is not None
            else settings.dedup_window,
            max_payload_bytes=settings.max_payload_bytes,
        )
        for event in sorted(estate.of(Event), key=lambda e: e.name)
    )
    consumers = tuple(
        ConsumerSpec(name=sub.name, type=sub.spec.event, start_at=sub.spec.start_at)
        for sub in subscriptions(estate)
    )
    return Topology(streams, consumers)
