"""Traces over OTLP/HTTP: the process's one tracer, and what the components hook into it.

The Platform's ``telemetry.otlpEndpoint`` turns tracing on. Each process that serves (the
``serve`` process, every gateway worker) calls :func:`start_tracing` once. Its resource says
``service.name`` (``telemetry.serviceName``) and the node; every hook is one check of
:func:`current` for ``None`` when tracing is off.

Recording a span costs the data path one tuple appended to a queue (``otlp_encoding.py``'s
records): ids, times and attributes as they are, the current span in a context variable. An
export thread takes what waits once a second, or as soon as :data:`BATCH` records wait, and
hands it in frames to the exporter process (``span_export.py``), which encodes the protobuf and
posts it: the serving process only pickles plain tuples. A trace that begins here is recorded
for ``telemetry.sampleRatio``'s share of trace ids; a span under a caller's context follows the
caller's sampled flag.

Exporting never blocks the data path: records wait in a bounded queue (dropped and counted when
it is full) and go out in batches. A batch the endpoint refuses or never receives is counted
(``interlink_telemetry_export_failures_total``, ``interlink_telemetry_spans_failed_total``) and
said in one warning when a streak of failures starts and one line when exporting works again.

Trace context travels as W3C ``traceparent`` strings (:func:`parse_traceparent`), so the hooks
in the layers above need no OpenTelemetry type: :meth:`Tracing.span` starts a span under a given
``traceparent`` (or the current span), makes it current for the code it wraps, and
:meth:`Tracing.traceparent` gives what to send on. :meth:`Tracing.record` writes a finished
span whose ids the caller chose; :meth:`Tracing.emit` takes a record as it is (the gateway's
request spans, see ``gateway/telemetry/tracing.py``).
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from interlink.observe.metrics import Registry
from interlink.observe.otlp_encoding import KINDS, SPAN, resource_prefix, spans_in
from interlink.observe.span_export import ExporterProcess

if TYPE_CHECKING:
    from interlink.estate.kinds.organisation import TelemetrySettings

log = logging.getLogger("interlink.telemetry")

Kind = Literal["server", "client", "producer", "consumer", "internal"]
Attributes = Mapping[str, str | int | float | bool]

#: The OTLP/HTTP path of traces under the endpoint (the OTLP exporter specification's default).
TRACES_PATH: Final = "/v1/traces"
#: Records waiting for export at most; past that they are dropped (and counted).
MAX_QUEUE: Final = 32768
#: Records that wake the export thread before its second is up.
BATCH: Final = 4096
#: Records in one frame to the exporter process, one OTLP request (a gateway request's record
#: is two spans).
FRAME: Final = 1024
#: Seconds an export may take (the exporter's retries included) before the batch is given up.
EXPORT_TIMEOUT: Final = 5.0

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_bits = random.Random(os.urandom(32)).getrandbits


class TraceParent(NamedTuple):
    """A W3C trace context: the trace, the parent span, whether it is sampled. A named tuple:
    one is read from every event delivered, and a tuple is the cheapest to make."""

    trace_id: int
    span_id: int
    sampled: bool = True

    def header(self) -> str:
        global _last_header
        last = _last_header
        if last[0] == self:  # the events of one batch carry one context
            return last[1]
        text = f"00-{self.trace_id:032x}-{self.span_id:016x}-{'01' if self.sampled else '00'}"
        _last_header = (self, text)
        return text


#: The last context written as a header and the last header parsed, with what came of them:
#: the events of a published batch share one ``traceparent``, so each delivery of them
#: finds it here instead of parsing and formatting it again. One tuple, swapped whole.
_last_header: tuple[TraceParent | None, str] = (None, "")
_last_parsed: tuple[str | bytes | None, TraceParent | None] = (None, None)


def parse_traceparent(value: str | bytes | None) -> TraceParent | None:
    """The trace context of a ``traceparent`` header, or None when it is absent or invalid
    (W3C Trace Context §3.2: version ``ff`` and zero ids are invalid, ``00`` has no suffix)."""
    global _last_parsed
    if value is None:
        return None
    last = _last_parsed
    if value == last[0]:
        return last[1]
    found = _parse(value)
    _last_parsed = (value, found)
    return found


def _parse(value: str | bytes) -> TraceParent | None:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    match = _TRACEPARENT.fullmatch(text.strip())
    if match is None:
        return None
    version, trace, parent, flags, extra = match.groups()
    if version == "ff" or (version == "00" and extra):
        return None
    trace_id, span_id = int(trace, 16), int(parent, 16)
    if not trace_id or not span_id:
        return None
    return TraceParent(trace_id, span_id, bool(int(flags, 16) & 1))


def new_span_id() -> int:
    return _bits(64) or 1


def new_trace_id() -> int:
    return _bits(128) or 1


def otlp_traces_url(endpoint: str) -> str:
    """``endpoint`` as the OTLP exporter takes it: a base URL gets ``/v1/traces``."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


class ExportHealth:
    """Export failures, counted and said once per streak (called from the export thread)."""

    def __init__(self, metrics: Registry, url: str) -> None:
        self.url = url
        self.failing = False
        self.reason = ""  # what the exporter last said of a failure
        self._lock = threading.Lock()
        self.failures = metrics.counter(
            "interlink_telemetry_export_failures_total",
            "Batches of spans the OTLP endpoint did not take (refused, unreachable, timed out).",
        )
        self.failed_spans = metrics.counter(
            "interlink_telemetry_spans_failed_total",
            "Spans lost because their batch could not be exported.",
        )
        self.exported = metrics.counter(
            "interlink_telemetry_spans_exported_total",
            "Spans the OTLP endpoint took.",
        )

    def said(self, message: str) -> None:
        if not self.reason:  # the first line of a batch names the cause; later ones, retries
            self.reason = " ".join(message.split())[:300]

    def outcome(self, ok: bool, spans: int) -> None:
        with self._lock:
            if ok:
                if spans:
                    self.exported.inc(amount=spans)
                if self.failing:
                    self.failing = False
                    log.info("traces: exporting to %s again", self.url)
                return
            self.failures.inc()
            self.failed_spans.inc(amount=spans)
            if not self.failing:
                self.failing = True
                why = f": {self.reason}" if self.reason else ""
                log.warning(
                    "traces: the OTLP endpoint %s did not take %d span(s)%s; spans are dropped "
                    "until it does (counted in interlink_telemetry_export_failures_total)",
                    self.url,
                    spans,
                    why,
                )
            self.reason = ""


class Span:
    """A span under way, as :meth:`Tracing.span` hands it out: current inside its ``with``
    block, handed to the exporter when the block ends (an exception out of it marks it
    failed, and goes on)."""

    __slots__ = ("_token", "_tracing", "attributes", "error", "kind", "links", "name",
                 "parent_id", "sampled", "span_id", "start", "trace_id")  # fmt: skip

    def __init__(
        self,
        tracing: Tracing,
        name: str,
        kind: Kind,
        trace_id: int,
        parent_id: int | None,
        sampled: bool,
        attributes: dict[str, str | int | float | bool],
    ) -> None:
        self._tracing = tracing
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = new_span_id()
        self.parent_id = parent_id
        self.sampled = sampled
        self.start = time.time_ns()
        self.attributes = attributes
        self.links: list[tuple[int, int]] = []
        self.error: str | None = None
        self._token: Token[Span | TraceParent | None] | None = None

    def header(self) -> str:
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-{'01' if self.sampled else '00'}"

    @property
    def traceparent(self) -> str:
        return self.header()

    def set(self, name: str, value: str | int | float | bool) -> None:
        self.attributes[name] = value

    def fail(self, description: str) -> None:
        self.error = description

    def __enter__(self) -> Span:
        self._token = _active.set(self)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _active.reset(self._token)
            self._token = None
        if exc is not None and self.error is None:
            self.error = f"{type(exc).__name__}: {exc}"[:300]
        if self.sampled:
            self._tracing.emit(
                (SPAN, self.name, KINDS[self.kind], self.trace_id, self.span_id,
                 self.parent_id, self.start, time.time_ns(), self.attributes, self.error,
                 self.links)
            )  # fmt: skip


#: The span the running code is in (or its context, as it would be sent on), per task.
_active: ContextVar[Span | TraceParent | None] = ContextVar("interlink_span", default=None)


class Carrying:
    """:meth:`Tracing.carrying`'s block: a class rather than a generator, a third of the
    cost, paid by every delivery of an unsampled event."""

    __slots__ = ("_token", "context")

    def __init__(self, context: TraceParent) -> None:
        self.context = context
        self._token: Token[Span | TraceParent | None] | None = None

    def __enter__(self) -> None:
        self._token = _active.set(self.context)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _active.reset(self._token)
            self._token = None


class Tracing:
    """The process's tracer (see the module doc). Build it with :func:`start_tracing`."""

    def __init__(
        self,
        endpoint: str,
        service_name: str,
        metrics: Registry,
        *,
        node: str | None = None,
        sample_ratio: float = 1.0,
        export_timeout: float = EXPORT_TIMEOUT,
        schedule_delay: float = 1.0,
    ) -> None:
        from interlink import __version__

        self.url = otlp_traces_url(endpoint)
        self.health = ExportHealth(metrics, self.url)
        self.resource: dict[str, str] = {
            "service.name": service_name,
            "service.version": __version__,
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "interlink",
            "telemetry.sdk.version": __version__,
        }
        if node:
            self.resource["service.instance.id"] = node
        prefix = resource_prefix(self.resource, "interlink", __version__)
        self.exporter = ExporterProcess(self.url, export_timeout, prefix)
        self.schedule_delay = schedule_delay
        self.dropped = metrics.counter(
            "interlink_telemetry_spans_dropped_total",
            "Spans dropped because the export queue was full (the endpoint slower than the "
            "spans came).",
        )
        # A trace that begins here is recorded for the ratio's share of trace ids (the lower 64
        # bits, as OpenTelemetry's TraceIdRatioBased sampler decides, so every node decides
        # alike); a span with a parent follows the parent's sampled flag.
        self.sample_bound = round(sample_ratio * (1 << 64))
        self._queue: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._asked = 0  # flushes asked for, and answered: each exports what waited then
        self._answered = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="interlink-traces", daemon=True)
        self._thread.start()

    def sampled(self, trace_id: int) -> bool:
        """Whether a trace that begins here with ``trace_id`` is recorded."""
        return (trace_id & 0xFFFFFFFFFFFFFFFF) < self.sample_bound

    # --- spans under way ------------------------------------------------------------------

    def span(
        self,
        name: str,
        kind: Kind = "internal",
        *,
        parent: str | bytes | TraceParent | None = None,
        links: Sequence[str] = (),
        attributes: Attributes | None = None,
    ) -> Span:
        """A span named ``name`` to use as a context manager, current within its block: a
        child of ``parent`` (a ``traceparent``, or one parsed) when given and valid, else of
        the current span, else the root of a new trace (recorded for the sample ratio's
        share). ``links`` are ``traceparent``s of spans it follows from. A microsecond or
        two."""
        context: Span | TraceParent | None = None
        if isinstance(parent, TraceParent):
            context = parent
        elif parent is not None:
            context = parse_traceparent(parent)
        if context is None:
            context = _active.get()
        values = dict(attributes) if attributes else {}
        if context is None:
            trace_id = new_trace_id()
            span = Span(self, name, kind, trace_id, None, self.sampled(trace_id), values)
        else:
            span = Span(self, name, kind, context.trace_id, context.span_id, context.sampled,
                        values)  # fmt: skip
        for text in links:
            found = parse_traceparent(text)
            if found is not None:
                span.links.append((found.trace_id, found.span_id))
        return span

    def carrying(self, context: TraceParent) -> Carrying:
        """``context`` current within the block without a span of its own: what work done
        for a trace that is not recorded does, at a fraction of a span's cost, so that what
        it calls is told the same context and records nothing either."""
        return Carrying(context)

    def traceparent(self) -> str | None:
        """The current span's context as a ``traceparent``, to send on; None outside one."""
        context = _active.get()
        return context.header() if context is not None else None

    # --- finished spans ------------------------------------------------------------------------

    def emit(self, record: tuple[Any, ...]) -> None:
        """Queue a record (``otlp_encoding.py``) for export: a deque append, and once every
        :data:`BATCH` records a wake-up of the export thread."""
        queue = self._queue
        waiting = len(queue)
        if waiting >= MAX_QUEUE:
            self.dropped.inc()
            return
        queue.append(record)
        if waiting == BATCH:
            self._wake.set()

    def record(
        self,
        name: str,
        kind: Kind,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        start_ns: int,
        end_ns: int,
        attributes: Attributes,
        error: str | None = None,
        links: Sequence[TraceParent] = (),
    ) -> None:
        """Hand a finished span with ids of the caller's choosing to the exporter: what a hot
        path does instead of keeping a span object open."""
        linked = [(p.trace_id, p.span_id) for p in links]
        self.emit((SPAN, name, KINDS[kind], trace_id, span_id, parent_id, start_ns, end_ns,
                   attributes, error, linked))  # fmt: skip

    # --- exporting ---------------------------------------------------------------------------

    def _run(self) -> None:
        """The export thread: what waits, in frames to the exporter process."""
        while True:
            self._wake.wait(self.schedule_delay)
            self._wake.clear()
            with self._done:
                asked = self._asked
                closing = self._closing
            self._export_waiting(closing)
            with self._done:
                self._answered = asked
                self._done.notify_all()
            if closing:
                self.exporter.stop()
                return

    def _export_waiting(self, closing: bool) -> None:
        queue, health = self._queue, self.health
        while queue:
            frame = [queue.popleft() for _ in range(min(len(queue), FRAME))]
            if closing and health.failing:  # a stop does not wait on it again
                health.outcome(False, sum(map(spans_in, frame)))
                continue
            taken, lost, why = self.exporter.export(frame)
            if lost:
                health.said(why)
                health.outcome(False, lost)
            else:
                health.outcome(True, taken)

    def _flushed(self, timeout: float, closing: bool = False) -> bool:
        with self._done:
            self._asked += 1
            asked = self._asked
            self._closing = self._closing or closing
            self._wake.set()
            return self._done.wait_for(lambda: self._answered >= asked, timeout)

    def flush(self, timeout: float = EXPORT_TIMEOUT) -> bool:
        """Export what waits (tests, a stopping process); False when it did not finish."""
        return self._thread.is_alive() and self._flushed(timeout)

    def shutdown(self) -> None:
        """Export what waits, within the export timeout (not at all while the endpoint is
        failing), and stop the export thread and the exporter process."""
        if self._thread.is_alive():
            self._flushed(self.exporter.timeout + 6.0, closing=True)
            self._thread.join(1.0)


_current: Tracing | None = None


def current() -> Tracing | None:
    """This process's tracer, or None when tracing is off: the one check every hook makes."""
    return _current


def start_tracing(
    settings: TelemetrySettings, metrics: Registry, node: str | None = None
) -> Tracing | None:
    """Set up this process's tracer from the Platform's telemetry settings, once; None (and
    nothing imported) when no ``otlpEndpoint`` is set."""
    global _current
    if _current is not None:
        return _current
    if settings.otlp_endpoint is None:
        return None
    _current = Tracing(
        str(settings.otlp_endpoint),
        settings.service_name,
        metrics,
        node=node,
        sample_ratio=settings.sample_ratio,
    )
    log.info("traces: exporting over OTLP/HTTP to %s as %s", _current.url, settings.service_name)
    return _current


def stop_tracing() -> None:
    """Export what is left and stop (a stopping process, tests)."""
    global _current
    tracing, _current = _current, None
    if tracing is not None:
        tracing.shutdown()


def install(tracing: Tracing | None) -> None:
    """Make ``tracing`` this process's tracer (tests build one against a local receiver)."""
    global _current
    _current = tracing
