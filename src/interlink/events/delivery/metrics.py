"""Delivery metrics per subscription, in the platform's metrics registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from interlink.observe.links import LinkCounts
from interlink.observe.metrics import DEFAULT_BUCKETS, Registry

LATENCY_BUCKETS: Final = (
    *(bound for bound in DEFAULT_BUCKETS if bound >= 0.005),
    300.0,
    1800.0,
    3600.0,
    21600.0,
    86400.0,
)
"""Publish-to-delivered latency spans milliseconds (healthy) to hours (retries)."""


@dataclass(frozen=True)
class SubscriptionMetrics:
    """Plain numbers for one subscription, as the admin API shows them."""

    delivered: int
    failed: int
    retries: int
    dead_lettered: int
    dropped: int
    filtered: int
    queue_depth: int
    dlq_depth: int
    lag: int
    latency_p50: float | None
    latency_p99: float | None


class DeliveryMetrics:
    def __init__(self, registry: Registry, links: LinkCounts | None = None) -> None:
        label = ("subscription",)
        self.registry = registry
        self.links = links  # each attempt's outcome, as an observed connection
        self.delivered = registry.counter(
            "interlink_delivery_delivered_total", "Events delivered.", label
        )
        self.failed = registry.counter(
            "interlink_delivery_failed_total", "Delivery attempts that failed.", label
        )
        self.retries = registry.counter(
            "interlink_delivery_retries_total", "Failed deliveries scheduled again.", label
        )
        self.dead = registry.counter(
            "interlink_delivery_dead_lettered_total",
            "Deliveries that exhausted their retries and went to the dead-letter queue.",
            label,
        )
        self.dropped = registry.counter(
            "interlink_delivery_dropped_total",
            "Deliveries that exhausted their retries with dead letters off.",
            label,
        )
        self.filtered = registry.counter(
            "interlink_delivery_filtered_total", "Events the subscription's filter skipped.", label
        )
        self.queue_depth = registry.gauge(
            "interlink_delivery_queue_depth", "Deliveries waiting or being retried.", label
        )
        self.dlq_depth = registry.gauge(
            "interlink_delivery_dlq_depth", "Deliveries in the dead-letter queue.", label
        )
        self.lag = registry.gauge(
            "interlink_delivery_lag",
            "Events not delivered yet: unread in the bus plus waiting in the queue.",
            label,
        )
        self.latency = registry.histogram(
            "interlink_delivery_latency_seconds",
            "Time from the event's publication to its delivery.",
            label,
            buckets=LATENCY_BUCKETS,
        )
        self.attempt_duration = registry.histogram(
            "interlink_delivery_attempt_duration_seconds",
            "Time one delivery attempt took (request sent to answer read).",
            label,
        )

    def attempted(self, subscription: str, event: str, result: str) -> None:
        """One delivery attempt of ``subscription`` ended with ``result`` (delivered, retry,
        dead, dropped): counted in the observed connections, its target found in the estate."""
        if self.links is not None:
            source, via = f"Subscription/{subscription}", f"Event/{event}"
            failed, dead = result != "delivered", result == "dead"
            self.links.add("deliver", source, "", via, failed=failed, dead=dead)

    def snapshot(self, subscription: str) -> SubscriptionMetrics:
        return SubscriptionMetrics(
            delivered=int(self.delivered.value(subscription)),
            failed=int(self.failed.value(subscription)),
            retries=int(self.retries.value(subscription)),
            dead_lettered=int(self.dead.value(subscription)),
            dropped=int(self.dropped.value(subscription)),
            filtered=int(self.filtered.value(subscription)),
            queue_depth=int(self.queue_depth.value(subscription)),
            dlq_depth=int(self.dlq_depth.value(subscription)),
            lag=int(self.lag.value(subscription)),
            latency_p50=self.latency.quantile(0.5, subscription),
            latency_p99=self.latency.quantile(0.99, subscription),
        )
