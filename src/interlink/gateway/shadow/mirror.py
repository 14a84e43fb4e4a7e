"""Shadow upstreams: a copy of each request, sent in the background, its answer only compared.

A route's upstream with ``shadow: true`` receives a copy of a request once the primary's answer
has been sent to the client, and only when both are held whole: the request's body is complete
(a body still arriving is read whole first when its Content-Length is at most
:data:`~interlink.gateway.resilience.guard.REPLAY_BUFFER`, as for retries; a larger or chunked
one is streamed to the primary and never copied) and at most :data:`MAX_SHADOW_BYTES`, and the
primary's answer was complete (not streamed) and at most :data:`MAX_SHADOW_BYTES`. The shadow's
answer never reaches the client and never delays it: it is read (up to the same size) on its
own time, bounded by :data:`SHADOW_DEADLINE` and the route's timeouts, with at most
:data:`MAX_IN_FLIGHT` copies in flight per route. A copy that cannot be sent then, fails or
times out is only counted, in ``interlink_gateway_shadow_skipped_total{route,reason}``.

Each pair of answers is compared (:mod:`interlink.gateway.shadow.compare`) and the outcome added to
:class:`ComparisonLog`: per route and minute, the count of comparisons, of matches and of
mismatches per field. The log is written to the store every :data:`FLUSH_INTERVAL` seconds
(``interlink routes compare`` and the admin API read it back), and counted in
``interlink_gateway_shadow_compared_total{route}`` and
``interlink_gateway_shadow_mismatched_total{route}``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from interlink.errors import InterlinkError, UpstreamError
from interlink.estate.kinds.gateway import Route
from interlink.gateway.forwarding import upstream_headers
from interlink.gateway.policy import Unsupported
from interlink.gateway.resilience.guard import REPLAY_BUFFER
from interlink.gateway.services import GatewayServices
from interlink.gateway.shadow.compare import Ignore, Outcome, compare_responses
from interlink.gateway.state import StateKey
from interlink.gateway.upstream import UpstreamTarget
from interlink.http.client import HttpClient
from interlink.http.headers import Headers
from interlink.http.streams import BodyStream
from interlink.observe.metrics import Counter

if TYPE_CHECKING:
    from interlink.gateway.request import Request
    from interlink.store import Store

#: Largest request body, primary answer and shadow answer a copy is made and compared for.
MAX_SHADOW_BYTES: Final = 1_048_576
#: Copies in flight at once per route; more are skipped, not queued.
MAX_IN_FLIGHT: Final = 32
#: Longest a copy may take, whatever the route's timeouts, in seconds.
SHADOW_DEADLINE: Final = 10.0
#: Seconds between writes of the comparisons to the store.
FLUSH_INTERVAL: Final = 10.0
#: Length of one period the store keeps counts for, in seconds.
PERIOD: Final = 60
#: Distinct fields kept per route and period; the rest count as OTHER.
MAX_FIELDS: Final = 200
OTHER: Final = "(other)"

COMPARED: Final = "interlink_gateway_shadow_compared_total"
MISMATCHED: Final = "interlink_gateway_shadow_mismatched_total"
SKIPPED: Final = "interlink_gateway_shadow_skipped_total"

log = logging.getLogger("interlink.gateway.shadow")


class Period:
    """Counts of one route in one period."""

    __slots__ = ("compared", "fields", "matched")

    def __init__(self) -> None:
        self.compared = 0
        self.matched = 0
        self.fields: Tally[str] = Tally()

    def add(self, outcome: Outcome) -> None:
        self.compared += 1
        if outcome.matched:
            self.matched += 1
            return
        for name in outcome.fields:
            if name in self.fields or len(self.fields) < MAX_FIELDS:
                self.fields[name] += 1
            else:
                self.fields[OTHER] += 1

    def merge(self, other: Period) -> None:
        self.compared += other.compared
        self.matched += other.matched
        self.fields.update(other.fields)


class ComparisonLog:
    """Comparison outcomes, per (route, period start), until they are written to the store.

    Written every :data:`FLUSH_INTERVAL` seconds once something was recorded; counts the store
    refuses are kept for the next write.
    """

    def __init__(
        self, store: Store | None, clock: Callable[[], float] = time.time, period: int = PERIOD
    ) -> None:
        self.store = store
        self.clock = clock
        self.period = period
        self.pending: dict[tuple[str, datetime], Period] = {}
        self._lock = threading.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False  # the last write failed: said once a streak, not every write

    def record(self, route: str, outcome: Outcome) -> None:
        now = self.clock()
        start = datetime.fromtimestamp(now - now % self.period, UTC)
        with self._lock:
            counts = self.pending.get((route, start))
            if counts is None:
                counts = self.pending[(route, start)] = Period()
            counts.add(outcome)
        self._schedule()

    def take(self) -> dict[tuple[str, datetime], Period]:
        with self._lock:
            pending, self.pending = self.pending, {}
        return pending

    def flush(self) -> int:
        """Write what is pending to the store (blocking); the number of rows written."""
        store = self.store
        if store is None:
            return 0
        pending = self.take()
        written = 0
        for (route, start), counts in pending.items():
            try:
                store.comparisons.record(
                    route, start, counts.compared, counts.matched, dict(counts.fields)
                )
            except InterlinkError as exc:
                if not self._failing:
                    log.warning(
                        "shadow comparisons of route %s not stored (kept for the next try): %s",
                        route,
                        exc.message,
                    )
                self._failing = True
                with self._lock:
                    kept = self.pending.setdefault((route, start), Period())
                    kept.merge(counts)
                continue
            if self._failing:
                log.info("shadow comparisons stored again")
            self._failing = False
            written += 1
        return written

    def _schedule(self) -> None:
        if self.store is None or self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(FLUSH_INTERVAL, self._due, loop)

    def _due(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if self._task is not None and not self._task.done():
            self._schedule()
            return
        self._task = loop.create_task(self._write())

    async def _write(self) -> None:
        await asyncio.to_thread(self.flush)
        with self._lock:
            more = bool(self.pending)
        if more:
            self._schedule()


class InFlight:
    """Copies of one route in flight, and their tasks (kept referenced until done)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()


LOG_KEY: Final[StateKey[ComparisonLog]] = StateKey("shadow", "log")


def comparison_log(services: GatewayServices) -> ComparisonLog:
    """The process's log, kept in ``services.state`` across reloads."""
    found = services.state.get(LOG_KEY)
    if found is None:
        found = services.state[LOG_KEY] = ComparisonLog(services.store, services.clock)
    return found


def flush_comparisons(services: GatewayServices) -> None:
    """Write the comparisons not yet stored (blocking): when the gateway stops."""
    found = services.state.get(LOG_KEY)
    if found is not None:
        found.flush()


class Shadow:
    """A route's shadow upstream, compiled with the route."""

    def __init__(
        self,
        route: str,
        target: UpstreamTarget,
        ignore: Ignore,
        connect_timeout: float,
        read_timeout: float,
        services: GatewayServices,
    ) -> None:
        self.route = route
        self.target = target
        self.ignore = ignore
        self.connect_timeout = connect_timeout
        self.read_timeout = min(read_timeout, SHADOW_DEADLINE)
        self.log = comparison_log(services)
        metrics = services.metrics
        self.compared: Counter = metrics.counter(
            COMPARED, "Requests copied to a shadow upstream and compared.", ("route",)
        )
        self.mismatched: Counter = metrics.counter(
            MISMATCHED, "Shadow answers that differ from the primary's.", ("route",)
        )
        self.skipped: Counter = metrics.counter(
            SKIPPED,
            "Requests not compared with a shadow upstream, by reason.",
            ("route", "reason"),
        )
        key: StateKey[InFlight] = StateKey("shadow", route, "in-flight")
        found = services.state.get(key)
        if found is None:
            found = services.state[key] = InFlight()
        self.in_flight = found

    async def follow(
        self,
        request: Request,
        client: HttpClient,
        target: bytes,
        body: bytes | BodyStream | None,
    ) -> bytes | BodyStream | None:
        """Arrange for ``request`` to be copied once the primary's answer is sent; return the
        body to send the primary.

        ``target`` is the request target on the shadow. A body still arriving is read whole
        first when its Content-Length is at most :data:`REPLAY_BUFFER` (as for retries); a
        larger or chunked one streams to the primary alone. Raises BodyError when the
        client's body fails."""
        if isinstance(body, BodyStream):
            length = request.content_length
            if length is None or length > REPLAY_BUFFER:
                self.skipped.inc(self.route, "request-body")
                return body
            body = await body.read()
        if body is not None and len(body) > MAX_SHADOW_BYTES:
            self.skipped.inc(self.route, "request-body")
            return body
        self._watch(request, client, target, body)
        return body

    def _watch(
        self, request: Request, client: HttpClient, target: bytes, body: bytes | None
    ) -> None:
        method = request.method_bytes
        headers = upstream_headers(request)
        credential = self.target.credential
        if credential is not None and credential.source is None:  # the shadow System's own
            headers = credential.headers(headers)  # (an oauth2 token is added as it is sent)

        def observe(status: int, response_headers: Headers, data: bytes) -> None:
            if len(data) > MAX_SHADOW_BYTES:
                self.skipped.inc(self.route, "response-body")
                return
            tasks = self.in_flight.tasks
            if len(tasks) >= MAX_IN_FLIGHT:
                self.skipped.inc(self.route, "busy")
                return
            primary = (status, response_headers, data)
            task = asyncio.get_running_loop().create_task(
                self.copy(client, method, target, headers, body, primary)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        if request.observers is None:
            request.observers = [observe]
        else:
            request.observers.append(observe)

    async def copy(
        self,
        client: HttpClient,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: bytes | None,
        primary: tuple[int, Headers, bytes],
    ) -> None:
        """Send the copy, read its answer, compare and record; never raises (but cancels)."""
        try:
            async with asyncio.timeout(SHADOW_DEADLINE):
                answer = await self.send(client, method, target, headers, body)
        except TimeoutError:
            self.skipped.inc(self.route, "timeout")
            return
        except UpstreamError as exc:
            self.skipped.inc(self.route, "error")
            log.debug("shadow %s of route %s: %s", self.target.system, self.route, exc.message)
            return
        except Exception:
            self.skipped.inc(self.route, "error")
            log.exception("copying a request to shadow %s failed", self.target.system)
            return
        if answer is None:
            self.skipped.inc(self.route, "response-body")
            return
        try:
            outcome = compare_responses(primary, answer, self.ignore)
        except Exception:
            log.exception("comparing answers of route %s failed", self.route)
            return
        self.record(outcome)

    async def send(
        self,
        client: HttpClient,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: bytes | None,
    ) -> tuple[int, Headers, bytes] | None:
        """The shadow's whole answer, or None when it is larger than MAX_SHADOW_BYTES."""
        credential = self.target.credential
        used = None
        if credential is not None and credential.source is not None:  # its oauth2 token
            used = await credential.current()
        response = await client.send(
            self.target.origin, method, target, used.headers(headers) if used else headers,
            body, None, self.connect_timeout, self.read_timeout,
        )  # fmt: skip
        if response.status == 401 and credential is not None and used is not None:
            fresh = await credential.renewed(used)
            if fresh is not None:  # once more with a fresh token
                response.close()
                response = await client.send(
                    self.target.origin, method, target, fresh.headers(headers), body, None,
                    self.connect_timeout, self.read_timeout,
                )  # fmt: skip
        try:
            parts: list[bytes] = []
            size = 0
            async for chunk in response.body:
                size += len(chunk)
                if size > MAX_SHADOW_BYTES:
                    return None
                parts.append(chunk)
            return response.status, response.headers, b"".join(parts)
        finally:
            response.close()

    def record(self, outcome: Outcome) -> None:
        self.compared.inc(self.route)
        if not outcome.matched:
            self.mismatched.inc(self.route)
        self.log.record(self.route, outcome)


def compile_shadow(
    route: Route, upstreams: Iterable[UpstreamTarget], services: GatewayServices
) -> Shadow | None:
    """The route's :class:`Shadow`, or None without a shadow upstream. Raises Unsupported
    when ``compare.ignore`` holds something that is not a JSON pointer."""
    target = next((u for u in upstreams if u.shadow), None)
    if target is None:
        return None
    spec = route.spec
    try:
        ignore = Ignore.parse(spec.compare.ignore)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    timeouts = spec.resilience.timeouts
    return Shadow(route.name, target, ignore, timeouts.connect, timeouts.read, services)
