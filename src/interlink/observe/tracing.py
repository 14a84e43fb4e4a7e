"""Traces over OTLP/HTTP: the process's one tracer, and what the components hook into it.

The Platform's ``telemetry.otlpEndpoint`` turns tracing on. Each process that serves (the
``serve`` process, every gateway worker) calls :func:`start_tracing` once: it builds an
OpenTelemetry ``TracerProvider`` whose resource says ``service.name`` (``telemetry.serviceName``)
and the node, and a ``BatchSpanProcessor`` that exports to ``<endpoint>/v1/traces`` from its own
thread, through the SDK's OTLP/HTTP exporter. The OpenTelemetry SDK is imported there and only
there, so a process without an endpoint (and the CLI) never loads it, and every hook is one
check of :func:`current` for ``None``.

The spans themselves are recorded here rather than by the SDK's tracer, which costs about
40 µs a span (a request through the gateway costs less): ids, times and attributes in a small
object, the current span in a context variable, handed to the processor when it ends and
written as protobuf by ``otlp_encoding.py``. A trace that begins here is recorded for
``telemetry.sampleRatio``'s share of trace ids; a span under a caller's context follows the
caller's sampled flag.

Exporting never blocks the data path: spans wait in the processor's bounded queue (dropped when
it is full) and go out in batches. A batch the endpoint refuses or never receives is counted
(``interlink_telemetry_export_failures_total``, ``interlink_telemetry_spans_failed_total``) and
said in one warning when a streak of failures starts and one line when exporting works again,
instead of the exporter's own line per batch.

Trace context travels as W3C ``traceparent`` strings (:func:`parse_traceparent`), so the hooks
in the layers above need no OpenTelemetry type: :meth:`Tracing.span` starts a span under a given
``traceparent`` (or the current span), makes it current for the code it wraps, and
:meth:`Tracing.traceparent` gives what to send on. :meth:`Tracing.record` writes a finished
span whose ids the caller chose (the gateway's, see ``gateway/telemetry/tracing.py``).
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from interlink.observe.metrics import Registry
from interlink.observe.otlp_encoding import KINDS, Finished, encode_request, resource_prefix

if TYPE_CHECKING:
    from interlink.estate.kinds.organisation import TelemetrySettings

log = logging.getLogger("interlink.telemetry")

Kind = Literal["server", "client", "producer", "consumer", "internal"]
Attributes = Mapping[str, str | int | float | bool]

#: The OTLP/HTTP path of traces under the endpoint (the OTLP exporter specification's default).
TRACES_PATH: Final = "/v1/traces"
#: Spans waiting for export at most; past that they are dropped (and counted).
MAX_QUEUE: Final = 8192
#: Seconds an export may take (the exporter's retries included) before the batch is given up.
EXPORT_TIMEOUT: Final = 5.0

#: The loggers the exporter says each failed batch on (filters act only where records start).
_EXPORTER_LOGGERS: Final = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.sdk._shared_internal",  # the batch processor: a line per span dropped
)

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_bits = random.Random(os.urandom(32)).getrandbits


@dataclass(frozen=True, slots=True)
class TraceParent:
    """A W3C trace context: the trace, the parent span, whether it is sampled."""

    trace_id: int
    span_id: int
    sampled: bool = True

    def header(self) -> str:
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-{'01' if self.sampled else '00'}"


def parse_traceparent(value: str | bytes | None) -> TraceParent | None:
    """The trace context of a ``traceparent`` header, or None when it is absent or invalid
    (W3C Trace Context §3.2: version ``ff`` and zero ids are invalid, ``00`` has no suffix)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    match = _TRACEPARENT.fullmatch(value.strip())
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


class _Quiet(logging.Filter):
    """Keeps the exporter's line per failed batch out of the log, handing its text to the
    streak's one warning."""

    def __init__(self, health: ExportHealth) -> None:
        super().__init__()
        self.health = health

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.health.said(record.getMessage())
            return False
        return True


#: The span the running code is in (its context, as it would be sent on), per task.
_active: ContextVar[TraceParent | None] = ContextVar("interlink_span", default=None)


class Span:
    """A span under way, as :meth:`Tracing.span` hands it out."""

    __slots__ = ("attributes", "error", "kind", "links", "name", "parent_id", "sampled",
                 "span_id", "start", "trace_id")  # fmt: skip

    def __init__(
        self,
        name: str,
        kind: Kind,
        trace_id: int,
        parent_id: int | None,
        sampled: bool,
        start: int,
        attributes: dict[str, str | int | float | bool],
        links: list[tuple[int, int]],
    ) -> None:
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = new_span_id()
        self.parent_id = parent_id
        self.sampled = sampled
        self.start = start
        self.attributes = attributes
        self.links = links
        self.error: str | None = None

    @property
    def traceparent(self) -> str:
        return TraceParent(self.trace_id, self.span_id, self.sampled).header()

    def set(self, name: str, value: str | int | float | bool) -> None:
        self.attributes[name] = value

    def fail(self, description: str) -> None:
        self.error = description


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
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        from interlink import __version__

        self.url = otlp_traces_url(endpoint)
        self.health = health = ExportHealth(metrics, self.url)
        attributes: dict[str, str] = {
            "service.name": service_name,
            "service.version": __version__,
        }
        if node:
            attributes["service.instance.id"] = node
        self.resource = Resource.create(attributes)
        prefix = resource_prefix(self.resource.attributes, "interlink", __version__)
        self._closing = closing = threading.Event()

        class Exporter(OTLPSpanExporter):
            """The SDK's OTLP/HTTP exporter (its client, retries and timeouts), encoding with
            otlp_encoding.py and counting what it could not export."""

            def export(self, spans: Sequence[Any]) -> SpanExportResult:
                ok = False
                if closing.is_set() and health.failing:  # a stop does not wait on it again
                    health.outcome(False, sum(getattr(span, "count", 1) for span in spans))
                    return SpanExportResult.FAILURE
                try:
                    data = encode_request(prefix, spans, pause=_yield_interpreter)
                    sent = self._client.export(data)
                    ok = sent.success
                    if not ok:
                        status = f"HTTP {sent.status_code}" if sent.status_code else ""
                        health.said(status or str(sent.error or sent.reason or "no answer"))
                except Exception as exc:  # never let a bad endpoint kill the export thread
                    health.said(f"{type(exc).__name__}: {exc}")
                health.outcome(ok, sum(getattr(span, "count", 1) for span in spans))
                return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

        exporter = Exporter(endpoint=self.url, timeout=export_timeout)
        self._quiet = _Quiet(health)
        for name in _EXPORTER_LOGGERS:
            logging.getLogger(name).addFilter(self._quiet)
        self.processor = BatchSpanProcessor(
            exporter,
            max_queue_size=MAX_QUEUE,
            schedule_delay_millis=schedule_delay * 1000,
            export_timeout_millis=export_timeout * 1000,
        )
        # The processor's queue, to count what it drops when full (it logs each one).
        self._queue: Any = getattr(getattr(self.processor, "_batch_processor", None), "_queue", ())
        self.dropped = metrics.counter(
            "interlink_telemetry_spans_dropped_total",
            "Spans dropped because the export queue was full (the endpoint slower than the "
            "spans came).",
        )
        # A trace that begins here is recorded for the ratio's share of trace ids (the lower 64
        # bits, as TraceIdRatioBased decides, so every node decides alike); a span with a
        # parent follows the parent's sampled flag.
        self.sample_bound = round(sample_ratio * (1 << 64))
        # The SDK's provider holds the resource and the processor (and shuts them down); the
        # platform's spans are recorded by span() and record() above it, not its tracer.
        sampler = ParentBased(TraceIdRatioBased(sample_ratio))
        self.provider = TracerProvider(resource=self.resource, sampler=sampler)
        self.provider.add_span_processor(self.processor)

    def sampled(self, trace_id: int) -> bool:
        """Whether a trace that begins here with ``trace_id`` is recorded."""
        return (trace_id & 0xFFFFFFFFFFFFFFFF) < self.sample_bound

    # --- spans under way ------------------------------------------------------------------

    @contextmanager
    def span(
        self,
        name: str,
        kind: Kind = "internal",
        *,
        parent: str | bytes | None = None,
        links: Sequence[str] = (),
        attributes: Attributes | None = None,
    ) -> Iterator[Span]:
        """A span named ``name`` around the block, current within it: a child of ``parent``
        (a ``traceparent``) when given and valid, else of the current span, else the root of
        a new trace (recorded for the sample ratio's share). ``links`` are ``traceparent``s
        of spans it follows from. An exception out of the block marks it failed, and goes
        on. A few microseconds: the SDK's own tracer takes ten times that."""
        context = parse_traceparent(parent) if parent is not None else None
        if context is None:
            context = _active.get()
        if context is None:
            trace_id = new_trace_id()
            span = Span(name, kind, trace_id, None, self.sampled(trace_id), time.time_ns(),
                        dict(attributes or {}), [])  # fmt: skip
        else:
            span = Span(name, kind, context.trace_id, context.span_id, context.sampled,
                        time.time_ns(), dict(attributes or {}), [])  # fmt: skip
        for text in links:
            found = parse_traceparent(text)
            if found is not None:
                span.links.append((found.trace_id, found.span_id))
        token = _active.set(TraceParent(span.trace_id, span.span_id, span.sampled))
        try:
            yield span
        except BaseException as exc:
            if span.error is None:
                span.error = f"{type(exc).__name__}: {exc}"[:300]
            raise
        finally:
            _active.reset(token)
            if span.sampled:
                self._emit(span)

    def _emit(self, span: Span) -> None:
        if len(self._queue) >= MAX_QUEUE:
            self.dropped.inc()
            return
        finished: Any = Finished(
            span.name, KINDS[span.kind], span.trace_id, span.span_id, span.parent_id,
            span.start, time.time_ns(), span.attributes, span.error, span.links,
        )  # fmt: skip
        self.processor.on_end(finished)

    def traceparent(self) -> str | None:
        """The current span's context as a ``traceparent``, to send on; None outside one."""
        context = _active.get()
        return context.header() if context is not None else None

    # --- finished spans ------------------------------------------------------------------------

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
        path does instead of keeping a span object open (a few microseconds)."""
        if len(self._queue) >= MAX_QUEUE:
            self.dropped.inc()
            return
        linked = [(p.trace_id, p.span_id) for p in links]
        span: Any = Finished(
            name, KINDS[kind], trace_id, span_id, parent_id, start_ns, end_ns, attributes,
            error, linked,
        )  # fmt: skip
        # The processor reads only `context.trace_flags.sampled` of it; Exporter encodes it.
        self.processor.on_end(span)

    def hand(self, spans: Any) -> None:
        """Hand the processor an object that encodes its own spans (``otlp() -> bytes``, the
        ``spans`` fields of a ``ScopeSpans``) when exported: the gateway's per request."""
        if len(self._queue) >= MAX_QUEUE:
            self.dropped.inc()
            return
        self.processor.on_end(spans)

    def flush(self, timeout: float = EXPORT_TIMEOUT) -> bool:
        """Export what waits (tests, a stopping process); False when it did not finish."""
        return bool(self.processor.force_flush(int(timeout * 1000)))

    def shutdown(self) -> None:
        """Export what waits, within the export timeout (not at all while the endpoint is
        failing), and stop the export thread."""
        self._closing.set()
        self.provider.shutdown()
        for name in _EXPORTER_LOGGERS:
            logging.getLogger(name).removeFilter(self._quiet)


def _yield_interpreter() -> None:
    time.sleep(0)  # lets a thread waiting for the GIL (the event loop's) take it now


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
