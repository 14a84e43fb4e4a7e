"""What the gateway records about each finished request: access log, metrics, connections.

:class:`GatewayObserver` is told of every request once its answer is out (or abandoned). It

- writes the access line (access_log.py) when that log is on;
- counts it in the process's metrics registry (``GatewayServices.metrics``)::

    interlink_gateway_requests_total{route,method,status_class}
    interlink_gateway_request_duration_seconds{route}
    interlink_gateway_upstream_requests_total{route,system,status_class}
    interlink_gateway_upstream_duration_seconds{system}
    interlink_gateway_consumer_requests_total{consumer,route}

  Event publishes count under route ``events/<Event>`` (set by events_endpoint.py); requests
  no route matched count under route ``_unmatched``; ``status_class`` is ``2xx`` …
  ``5xx`` (``error`` for an upstream that gave no answer). Route, System and consumer names
  come from the estate and methods from a fixed set, and the registry folds series beyond its
  bound into ``_other``, so no request can grow the series without limit;
- counts who called what through which upstream per hour (:class:`ConnectionCounts`), flushed
  to the store every :data:`FLUSH_INTERVAL` seconds and when the gateway stops. The table holds
  at most :data:`MAX_CONNECTIONS` entries: when it fills up between two flushes it is written
  out at once (one write at a time, and one more full table may wait for it), so memory stays
  bounded and nothing is lost. Requests are left uncounted (and a warning says how many) only
  when the store cannot take them: while it fails, or when it falls behind by more than that.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from interlink.gateway.services import GatewayServices
from interlink.gateway.telemetry.access_log import access_line
from interlink.gateway.telemetry.access_log import log as access_log
from interlink.observe import signals
from interlink.observe.saving import CountsSaver, Periodic
from interlink.store import ObservedConnection, Store

if TYPE_CHECKING:
    from interlink.gateway.request import Request

log = logging.getLogger("interlink.gateway")

UNMATCHED: Final = "_unmatched"
#: Seconds between two flushes of the observed connections to the store.
FLUSH_INTERVAL: Final = 30.0
#: Most (hour, consumer, route, system) entries held at once; a full table is flushed at once.
MAX_CONNECTIONS: Final = 10_000
#: Histogram buckets (seconds) of request and upstream durations.
DURATION_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CLASSES: Final = ("1xx", "1xx", "2xx", "3xx", "4xx", "5xx")

ConnectionKey = tuple[int, str, str, str]  # (hour as epoch seconds, consumer, route, system)


def status_class(status: int) -> str:
    index = status // 100
    return _CLASSES[index] if 0 < index < len(_CLASSES) else "error"


class ConnectionCounts:
    """Requests per hour per (consumer, route, upstream System), and how many of them failed
    (a 5xx answer), held until drained: ``[requests, errors]`` by key."""

    def __init__(self, limit: int = MAX_CONNECTIONS) -> None:
        self.limit = limit
        self.counts: dict[ConnectionKey, list[int]] = {}
        self.dropped = 0

    def add(
        self, now: float, consumer: str, route: str, system: str, count: int = 1, errors: int = 0
    ) -> bool:
        """Count ``count`` requests, ``errors`` of them failed; True when the table is full
        (they may not have been counted: see ``dropped``), so it should be written out now."""
        key = (int(now) // 3600 * 3600, consumer, route, system)
        counts = self.counts
        found = counts.get(key)
        if found is not None:
            found[0] += count
            found[1] += errors
            return False
        if len(counts) < self.limit:
            counts[key] = [count, errors]
            return len(counts) >= self.limit
        self.dropped += count
        return True

    def take(self) -> dict[ConnectionKey, list[int]]:
        """The counts so far, leaving the table empty."""
        counts, self.counts = self.counts, {}
        return counts

    def drain(self) -> list[ObservedConnection]:
        return connection_rows(self.take())

    def restore(self, counts: dict[ConnectionKey, list[int]]) -> None:
        """Put back counts a failed flush could not write (as far as there is room)."""
        for (hour, consumer, route, system), (n, errors) in counts.items():
            self.add(hour, consumer, route, system, n, errors)


def connection_rows(counts: dict[ConnectionKey, list[int]]) -> list[ObservedConnection]:
    return [
        ObservedConnection(datetime.fromtimestamp(hour, UTC), consumer, route, system, n, errors)
        for (hour, consumer, route, system), (n, errors) in counts.items()
    ]


def record_connections(store: Store, counts: dict[ConnectionKey, list[int]]) -> None:
    """Write ``counts`` to ``store`` (blocking: it runs in a worker thread)."""
    store.connections.record(connection_rows(counts))


def record_nowhere(counts: dict[ConnectionKey, list[int]]) -> None:
    """No store to write ``counts`` to: they are not kept."""


class GatewayObserver:
    """See the module doc. One per gateway process, for as long as its server runs."""

    def __init__(
        self,
        services: GatewayServices,
        *,
        access_log: bool = True,
        flush_interval: float = FLUSH_INTERVAL,
        clock: Callable[[], float] = time.time,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.services = services
        self.access_log = access_log
        self.clock = clock
        self.connections = ConnectionCounts(max_connections)
        self.tracing = services.tracing
        metrics = services.metrics
        self.requests = metrics.counter(
            "interlink_gateway_requests_total",
            "Requests answered by the gateway, by route, method and status class.",
            ("route", "method", "status_class"),
        )
        self.duration = metrics.histogram(
            "interlink_gateway_request_duration_seconds",
            "Time from a request's head arriving to its answer being written, by route.",
            ("route",),
            DURATION_BUCKETS,
        )
        self.upstream_requests = metrics.counter(
            "interlink_gateway_upstream_requests_total",
            "Requests sent to upstream Systems, by route, System and the upstream's status "
            "class (error: no answer).",
            ("route", "system", "status_class"),
        )
        self.upstream_duration = metrics.histogram(
            "interlink_gateway_upstream_duration_seconds",
            "Time until an upstream System's response head (retries included), by System.",
            ("system",),
            DURATION_BUCKETS,
        )
        self.consumer_requests = metrics.counter(
            "interlink_gateway_consumer_requests_total",
            "Requests by authenticated consumer and route.",
            ("consumer", "route"),
        )
        self._periodic = Periodic(self.flush, flush_interval)
        self._flushing = asyncio.Lock()  # one write to the store at a time
        # Writing out full tables, started on the request path; at most one at a time, and at
        # most one more full table waiting for it.
        self._early: asyncio.Task[int] | None = None
        self._waiting: dict[ConnectionKey, list[int]] | None = None
        # When its last write failed, a full table waits for the next periodic flush, rather
        # than trying a failing store again on every request.
        self._saver = CountsSaver(
            self.connections,
            log,
            saved="observed connections",
            kept="the next try",
            uncounted="request(s)",
            unit="entries",
        )

    # --- per request -------------------------------------------------------------------------

    def finished(self, request: Request, now: float) -> None:
        """``request`` is done; ``now`` is the loop time, to compare with ``request.started``."""
        started = request.started
        duration = now - started if started else 0.0
        route = request.route or UNMATCHED
        method = request.method if request.method in _METHODS else "OTHER"
        status = request.status or 499  # nothing was sent: the client went away first
        self.requests.inc(route, method, _CLASSES[status // 100] if status < 600 else "5xx")
        self.duration.observe(duration, route)
        consumer = request.consumer
        system = request.system
        upstream_status = request.upstream_status
        wall = 0.0
        if system is not None and upstream_status is not None:
            self.upstream_requests.inc(route, system, status_class(upstream_status))
            self.upstream_duration.observe(request.upstream_seconds, system)
            wall = self.clock()
            failed = 1 if status >= 500 else 0
            if self.connections.add(wall, consumer or "", route, system, 1, failed):
                self._flush_full()
        elif request.product is not None:  # a product route's read: consumer → product
            wall = self.clock()
            if self.connections.add(wall, consumer or "", route, request.product):
                self._flush_full()
        if consumer is not None and request.route is not None:
            self.consumer_requests.inc(consumer, route)
        if request.route is not None:  # for the monitors; a request no route matched is nobody's
            signals.request(route, system, status, duration, upstream_status)
        if self.access_log and access_log.isEnabledFor(logging.INFO):
            line = access_line(request, wall or self.clock(), duration, consumer)
            access_log.info(line)
        tracing = self.tracing
        if tracing is not None:
            tracing.finished(request, now)

    # --- flushing connections ----------------------------------------------------------------

    def start(self) -> None:
        if self.services.store is not None:
            self._periodic.start()

    async def stop(self) -> None:
        """Stop the periodic flush and write what is left."""
        await self._periodic.stop()

    def _flush_full(self) -> None:
        """The table is full: take it now, so the next requests find room, and have it written
        out in the background. One more full table may wait for a write still going on; past
        that, or while the store fails, the store cannot take them and requests go uncounted."""
        if self._saver.failing or self.services.store is None:
            return
        if self._early is None:
            counts = self.connections.take()
            self._early = asyncio.get_running_loop().create_task(self._write_full(counts))
        elif self._waiting is None:
            self._waiting = self.connections.take()

    async def _write_full(self, counts: dict[ConnectionKey, list[int]]) -> int:
        """Write ``counts``, then each full table that came to wait meanwhile."""
        written = 0
        batch: dict[ConnectionKey, list[int]] | None = counts
        try:
            while batch is not None:
                async with self._flushing:
                    written += await self._write_locked(batch)
                batch, self._waiting = self._waiting, None
        finally:
            self._early = None
        return written

    async def flush(self) -> int:
        """Write the counted connections to the store, after any full table being written out;
        the rows this call wrote (kept on failure)."""
        if self.services.store is None:
            return 0
        early = self._early
        if early is not None:
            await asyncio.wait([early])
        async with self._flushing:
            return await self._write_locked(self.connections.take())

    async def _write_locked(self, counts: dict[ConnectionKey, list[int]]) -> int:
        store = self.services.store
        if store is None:
            return await self._saver.save({}, record_nowhere)
        return await self._saver.save(counts, functools.partial(record_connections, store))
