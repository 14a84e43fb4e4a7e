"""What the gateway's policies use beyond the estate: the process's shared services.

Policies are compiled from Route objects off the request path; those that need run-time state
(consumer keys, counters shared in Redis, the event bus, metrics, the store) find it here. One
``GatewayServices`` lives as long as the gateway process and is passed to every compile, so a
reload keeps the state (rate-limit counters, circuit breakers, key ring) that must survive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from interlink.gateway.state import SharedState, StateKey
from interlink.observe.metrics import Registry

T = TypeVar("T")

#: Component → why it runs degraded (e.g. the rate-limit store); the admin's ``/readyz`` lists it.
DEGRADED_KEY: Final[StateKey[dict[str, str]]] = StateKey("degraded")

if TYPE_CHECKING:
    from interlink.estate.model import Estate
    from interlink.events.ingress import Reply
    from interlink.flows.engine import FlowEngine
    from interlink.gateway.auth.platform_keys import PlatformKeyRing
    from interlink.gateway.request import Request
    from interlink.http.headers import Headers
    from interlink.observe.lineage import LineageRecorder
    from interlink.products.service import Products
    from interlink.store import Store
    from interlink.store.keyring import KeyRing


class EventPublisher(Protocol):
    """Where REST-to-event routes publish: the mesh's
    :class:`~interlink.events.ingress.EventIngress`, or a worker's
    :class:`~interlink.gateway.workers.event_link.EventLink` to it."""

    async def publish_data(
        self,
        event_type: str,
        data: bytes,
        *,
        id: str,
        source: str,
        time: str | None = None,
        request_id: str = "",
        data_pointer: str = "/data",
        traceparent: str | None = None,
    ) -> Reply: ...


class RequestTracing(Protocol):
    """The gateway's spans of a request (telemetry/tracing.py), when tracing is on."""

    def outgoing(self, request: Request, headers: Headers) -> None:
        """``headers`` go upstream: their ``traceparent`` names the upstream call's span."""

    def finished(self, request: Request, now: float) -> None:
        """``request`` is done (``now`` is the loop time): its spans go to the exporter."""

    def context(self, request: Request) -> str:
        """The ``traceparent`` of ``request``'s server span, for what the gateway does on its
        behalf (a REST-to-event publish); flags ``00`` when it is not recorded."""


@dataclass
class GatewayServices:
    keyring: KeyRing | None = None  # consumer API keys, refreshed from the store
    # The platform's token signing keys (gateway.oauth), refreshed from the store.
    platform_keys: PlatformKeyRing | None = None
    store: Store | None = None
    # REST → event routes publish through it: the mesh's ingress, or a worker's link to it.
    events: EventPublisher | None = None
    # Flow routes start runs on it; only the serve process has one (not gateway workers).
    flows: FlowEngine | None = None
    # Product routes query them: the node's products, or a worker's own over the same files.
    products: Products | None = None
    lineage: LineageRecorder | None = None  # served hops of subjects' data, where recorded
    metrics: Registry = field(default_factory=Registry)
    tracing: RequestTracing | None = None  # spans of each request, when tracing is on
    clock: Callable[[], float] = time.time  # wall-clock seconds (rate limits, quotas, sunsets)
    # State kept across reloads by the policies that own it, under typed keys of their making
    # (e.g. StateKey[CircuitBreaker]("breaker", route, system)); a policy compiled again finds
    # its state here.
    state: SharedState = field(default_factory=SharedState)

    def per_estate(self, estate: Estate, key: StateKey[T], build: Callable[[], T]) -> T:
        """``build()``, computed once per estate and shared by every route compiled from it.

        What depends only on the estate (each Consumer's identity, plan) must not be built
        again for each of a thousand routes: with ten thousand Consumers that would hold ten
        million objects. The latest estate's value is kept, under ``key`` with the estate it
        was built from; a reload builds it anew.
        """
        held: StateKey[tuple[Estate, T]] = StateKey("per-estate", *key.parts)
        found = self.state.get(held)
        if found is not None and found[0] is estate:
            return found[1]
        value = build()
        self.state[held] = (estate, value)
        return value
