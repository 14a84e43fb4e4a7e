"""Retries, circuit breaking and bulkheads around each call a route makes to an upstream.

A route's ``resilience`` is compiled into one :class:`UpstreamGuard` per upstream System. The
proxy sends through its System's guard (:func:`interlink.gateway.proxy.resilient_send`) and
calls :meth:`UpstreamGuard.finished` once the response was relayed (or given up), which frees
the request's bulkhead slot.

Retries (``retries.attempts`` more tries, ``retries.backoff`` the first wait) happen only when
sending again cannot change the outcome:

- the method is idempotent (:data:`IDEMPOTENT`) and the body can be sent again: none, or one
  held whole before the first try. A body still arriving is read whole first when its
  Content-Length is at most :data:`REPLAY_BUFFER`; a larger or chunked one is streamed, and
  such a request is tried once (a streamed body is gone once sent);
- the try failed before any response: the connection could not be made (refused, DNS,
  connect timeout, every pooled connection busy) or closed without an answer; or the response
  head says 502, 503 or 504 (its body is dropped). A read timeout is not retried: the upstream
  is slow, and asking it again makes it slower;
- nothing of a response was relayed yet: a response that goes to the client is never retried.

Waits grow exponentially with equal jitter (:func:`backoff_delay`). Every try counts for the
System's :class:`~interlink.gateway.resilience.breaker.CircuitBreaker`: an error or timeout
always as a failure, an answer as one when its status is in the route's ``failureStatuses``
(default :data:`FAILURE_STATUSES`). While the breaker is open, requests are refused with 503
and ``Retry-After`` without reaching the upstream. Breakers and bulkheads live in
``GatewayServices.state``, so a reload keeps them (with the new settings).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from interlink.errors import UpstreamError, UpstreamUnavailable
from interlink.estate.kinds.gateway import Route
from interlink.gateway.resilience.breaker import BreakerSettings, BreakerState, CircuitBreaker
from interlink.gateway.resilience.bulkhead import Bulkhead
from interlink.gateway.services import GatewayServices
from interlink.gateway.state import StateKey
from interlink.gateway.upstream import UpstreamTarget
from interlink.http.connection import Body, Response
from interlink.http.headers import Headers
from interlink.http.origin import Origin
from interlink.http.streams import BodyStream
from interlink.observe.metrics import Counter, Gauge

#: Methods retried (RFC 9110 §9.2.2 idempotent methods, less TRACE, which is never proxied twice).
IDEMPOTENT: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE"})
#: Upstream statuses that mean "not now" rather than "no".
RETRY_STATUSES: Final = frozenset({502, 503, 504})
#: Upstream statuses counted as failures by default: a live system answering 500 over and
#: over is as broken to its callers as one that does not answer (Envoy's ``consecutive_5xx``).
FAILURE_STATUSES: Final = frozenset({500, 502, 503, 504})
#: Longest wait between two tries, in seconds.
MAX_BACKOFF: Final = 10.0
#: A streamed body of at most this many bytes (by its Content-Length) is read whole before the
#: first try of a request that may be retried, so it can be sent again.
REPLAY_BUFFER: Final = 64 * 1024
#: Retry-After of a request refused because the bulkhead is full.
BULKHEAD_RETRY_AFTER: Final = 1.0

STATE_GAUGE: Final = "interlink_gateway_circuit_state"
REJECTIONS: Final = "interlink_gateway_upstream_rejections_total"
RETRIES: Final = "interlink_gateway_upstream_retries_total"


class Sender(Protocol):
    """What sends to an upstream: :class:`interlink.http.client.HttpClient`, or a test's script."""

    def send(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: Body,
        content_length: int | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> Awaitable[Response]: ...


class Rejected(UpstreamUnavailable):
    """Refused before reaching the upstream: its breaker is open or its bulkhead full."""

    def __init__(self, message: str, *, retry_after: float, reason: str) -> None:
        super().__init__(message, request_sent=False, retry_after=retry_after)
        self.reason = reason


def backoff_delay(retry: int, base: float, *, rand: Callable[[], float] = random.random) -> float:
    """The wait before retry number ``retry`` (1 for the first): ``base * 2^(retry-1)``, at
    most :data:`MAX_BACKOFF`, of which a random half is taken off (equal jitter)."""
    ceiling = min(MAX_BACKOFF, base * 2.0 ** (retry - 1))
    return ceiling / 2 + rand() * ceiling / 2


def replayable(method: bytes, body: Body) -> bool:
    """Whether a request may be sent again: idempotent, and its body (if any) held whole."""
    return method in IDEMPOTENT and (body is None or isinstance(body, bytes))


def retryable_error(exc: UpstreamError) -> bool:
    """A failure before any response that a new try may not meet."""
    if not exc.request_sent:
        return True
    return type(exc) is UpstreamError  # closed without answering, or answered nonsense


def _metrics(services: GatewayServices) -> tuple[Gauge, Counter, Counter]:
    metrics = services.metrics
    return (
        metrics.gauge(
            STATE_GAUGE,
            "Circuit breaker state per route and upstream system (0 closed, 1 half-open, 2 open).",
            ("route", "system"),
        ),
        metrics.counter(
            REJECTIONS,
            "Requests refused without calling the upstream, by reason (breaker, bulkhead).",
            ("route", "system", "reason"),
        ),
        metrics.counter(
            RETRIES, "Upstream calls tried again after a failure.", ("route", "system")
        ),
    )


@dataclass(eq=False)
class UpstreamGuard:
    """Retries, breaker and bulkhead for one route's calls to one System."""

    route: str
    system: str
    retries: int
    backoff: float
    breaker: CircuitBreaker
    bulkhead: Bulkhead | None
    rejections: Counter
    retried: Counter
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # Upstream answers that count against its breaker (connection errors always do).
    failure_statuses: frozenset[int] = FAILURE_STATUSES

    async def send(  # noqa: C901 - retry, breaker and bulkhead around one call
        self,
        client: Sender,
        upstream: UpstreamTarget,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: Body,
        content_length: int | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> Response:
        """The upstream's response; raises UpstreamError (``Rejected`` when refused). When it
        returns, the caller holds a bulkhead slot until :meth:`finished`."""
        if not self.breaker.allow():
            self._reject("breaker", self._open_detail(), self.breaker.retry_after())
        bulkhead = self.bulkhead
        if bulkhead is not None and not bulkhead.try_acquire():
            self.breaker.release()
            self._reject(
                "bulkhead",
                f"{bulkhead.limit} request(s) to it already in flight on this route",
                BULKHEAD_RETRY_AFTER,
            )
        breaker = self.breaker
        try:
            if (
                self.retries
                and method in IDEMPOTENT
                and isinstance(body, BodyStream)
                and content_length is not None
                and content_length <= REPLAY_BUFFER
            ):
                try:
                    body, content_length = await body.read(), None
                except BaseException:
                    breaker.release()
                    raise
            retries = self.retries if replayable(method, body) else 0
            attempt = 0
            while True:
                try:
                    response = await client.send(
                        upstream.origin, method, target, headers, body, content_length,
                        connect_timeout, read_timeout,
                    )  # fmt: skip
                except UpstreamError as exc:
                    breaker.failure()
                    if attempt >= retries or not retryable_error(exc):
                        raise
                except BaseException:  # the client's body failed, or the request was cancelled
                    breaker.release()
                    raise
                else:
                    status = response.status
                    if status in self.failure_statuses:
                        breaker.failure()
                    else:
                        breaker.success()
                    if status not in RETRY_STATUSES or attempt >= retries:
                        return response
                    response.close()
                attempt += 1
                self.retried.inc(self.route, self.system)
                await self.sleep(backoff_delay(attempt, self.backoff))
                if not breaker.allow():
                    self._reject("breaker", self._open_detail(), breaker.retry_after())
        except BaseException:
            if bulkhead is not None:
                bulkhead.release()
            raise

    def finished(self) -> None:
        if self.bulkhead is not None:
            self.bulkhead.release()

    def _open_detail(self) -> str:
        wait = round(self.breaker.retry_after())
        return f"circuit open after repeated failures; not called for another {wait} s"

    def _reject(self, reason: str, detail: str, retry_after: float) -> None:
        self.rejections.inc(self.route, self.system, reason)
        raise Rejected(detail, retry_after=retry_after, reason=reason)


def compile_resilience(
    route: Route, systems: Iterable[str], services: GatewayServices
) -> Mapping[str, UpstreamGuard]:
    """One guard per System in ``systems``, reusing the breakers and bulkheads kept in
    ``services.state`` from earlier compiles."""
    spec = route.spec.resilience
    cb = spec.circuit_breaker
    settings = BreakerSettings(
        consecutive=cb.consecutive_failures,
        error_rate=cb.error_rate,
        window=cb.window,
        half_open_after=cb.half_open_after,
    )
    gauge, rejections, retried = _metrics(services)
    guards: dict[str, UpstreamGuard] = {}
    for system in dict.fromkeys(systems):
        labels = (route.name, system)
        breaker_key: StateKey[CircuitBreaker] = StateKey("breaker", *labels)
        breaker = services.state.get(breaker_key)
        if breaker is None:
            breaker = services.state[breaker_key] = CircuitBreaker(settings, services.clock)
            gauge.set(float(BreakerState.CLOSED), *labels)
        breaker.settings = settings
        breaker.clock = services.clock
        breaker.on_change = _reporter(gauge, labels)
        bulkhead: Bulkhead | None = None
        if spec.max_concurrent is not None:
            bulkhead_key: StateKey[Bulkhead] = StateKey("bulkhead", *labels)
            found = services.state.get(bulkhead_key)
            bulkhead = found if found is not None else Bulkhead(spec.max_concurrent)
            bulkhead.limit = spec.max_concurrent
            services.state[bulkhead_key] = bulkhead
        guards[system] = UpstreamGuard(
            route.name,
            system,
            spec.retries.attempts,
            spec.retries.backoff,
            breaker,
            bulkhead,
            rejections,
            retried,
            failure_statuses=frozenset(cb.failure_statuses),
        )
    return guards


def _reporter(gauge: Gauge, labels: tuple[str, str]) -> Callable[[BreakerState], None]:
    def report(state: BreakerState) -> None:
        gauge.set(float(state), *labels)

    return report
