"""The gateway's spans: a server span per request and a client span per upstream call.

Holding an OpenTelemetry span open per request would cost more than the request itself on the
compiled path, so the gateway picks the ids itself and writes both spans once the request is
done (``Tracing.record``). The client's ``traceparent`` is continued: the server span is its
child, in its trace (a new trace when it sent none or an invalid one), and the upstream is told
a ``traceparent`` naming the client span, so its own spans join the same trace. A client that
says its trace is not sampled (flags ``00``) is left untraced and its ``traceparent`` is passed
on as it came, as with tracing off.

Not compiled (``_native.py`` leaves it out): the compiled modules call it through the
``RequestTracing`` protocol when tracing is on, and check one attribute for None when it is off.
"""

from __future__ import annotations

import time
from typing import Final

from interlink.gateway.request import Request
from interlink.http.headers import Headers
from interlink.observe.otlp_encoding import SAMPLED, encode_fields
from interlink.observe.tracing import (
    Tracing,
    new_span_id,
    new_trace_id,
    parse_traceparent,
)

_UNSAMPLED: Final = object()  # a client asked for no trace


class _Ids:
    __slots__ = ("client", "parent", "sent_ns", "server", "trace")

    def __init__(self, trace: int, parent: int | None) -> None:
        self.trace = trace
        self.parent = parent
        self.server = new_span_id()
        self.client = 0
        self.sent_ns = 0


def _ids(request: Request, tracing: Tracing) -> _Ids | None:
    held = request.trace
    if held is _UNSAMPLED:
        return None
    if isinstance(held, _Ids):
        return held
    incoming = parse_traceparent(request.special.get(b"traceparent"))
    if incoming is not None and not incoming.sampled:
        request.trace = _UNSAMPLED
        return None
    if incoming is not None:
        ids = _Ids(incoming.trace_id, incoming.span_id)
    else:
        trace = new_trace_id()
        if not tracing.sampled(trace):
            request.trace = _UNSAMPLED
            return None
        ids = _Ids(trace, None)
    request.trace = ids
    return ids


class GatewayTracing:
    """``GatewayServices.tracing`` when the Platform sets ``telemetry.otlpEndpoint``."""

    def __init__(self, tracing: Tracing) -> None:
        self.tracing = tracing

    def outgoing(self, request: Request, headers: Headers) -> None:
        ids = _ids(request, self.tracing)
        for i in range(len(headers) - 1, -1, -1):
            if headers[i][0] == b"traceparent":
                break
        else:
            return  # forwarding.py always sends one
        if ids is not None:
            ids.client = new_span_id()
            ids.sent_ns = time.time_ns()
            headers[i] = (b"traceparent", b"00-%032x-%016x-01" % (ids.trace, ids.client))
        elif b"traceparent" not in request.special:
            # A trace begun here and left out by the sample ratio: say so to the upstream.
            headers[i] = (b"traceparent", headers[i][1][:-2] + b"00")
        # (a caller's unsampled traceparent goes on as it came)

    def finished(self, request: Request, now: float) -> None:
        ids = _ids(request, self.tracing)
        if ids is None:
            return
        end_ns = time.time_ns()
        started = request.started
        start_ns = end_ns - int((now - started) * 1e9) if started else end_ns
        # What the spans need, as it is: they are worded and encoded in the export thread.
        self.tracing.hand(
            _RequestSpans(
                ids,
                start_ns,
                end_ns,
                request.method,
                request.path,
                request.route,
                request.status or 499,
                request.request_id,
                request.consumer,
                request.system,
                request.upstream_status or 0,
                request.upstream_seconds,
            )
        )


class _RequestSpans:
    """A request's server span and upstream call span, encoded when exported (``otlp()``)."""

    __slots__ = ("consumer", "end", "ids", "method", "path", "request_id", "route", "start",
                 "status", "system", "upstream_seconds", "upstream_status")  # fmt: skip
    context = SAMPLED

    @property
    def count(self) -> int:
        """How many spans ``otlp()`` writes."""
        return 2 if self.ids.client and self.system is not None else 1

    def __init__(
        self,
        ids: _Ids,
        start: int,
        end: int,
        method: str,
        path: str,
        route: str | None,
        status: int,
        request_id: str,
        consumer: str | None,
        system: str | None,
        upstream_status: int,
        upstream_seconds: float,
    ) -> None:
        self.ids = ids
        self.start = start
        self.end = end
        self.method = method
        self.path = path
        self.route = route
        self.status = status
        self.request_id = request_id
        self.consumer = consumer
        self.system = system
        self.upstream_status = upstream_status
        self.upstream_seconds = upstream_seconds

    def otlp(self) -> bytes:
        ids = self.ids
        route = self.route
        name = f"gateway {self.method} {route}" if route is not None else f"gateway {self.method}"
        fixed: dict[str, str | int] = {
            "http.request.method": self.method,
            "http.response.status_code": self.status,
        }
        if route is not None:
            fixed["http.route"] = route
        if self.consumer is not None:
            fixed["interlink.consumer"] = self.consumer
        unique = {"url.path": self.path, "interlink.request_id": self.request_id}
        error = f"HTTP {self.status}" if self.status >= 500 else None
        out = encode_fields(name, 2, ids.trace, ids.server, ids.parent, self.start, self.end,
                            fixed, unique, error)  # fmt: skip
        if ids.client and self.system is not None:
            upstream = self.upstream_status
            called: dict[str, str | int] = {
                "http.request.method": self.method,
                "interlink.system": self.system,
            }
            if upstream:
                called["http.response.status_code"] = upstream
            failed = (
                None if 0 < upstream < 500 else (f"HTTP {upstream}" if upstream else "no answer")
            )
            # Durations come from the loop's clock, cached per loop pass: keep the call inside
            # the request's span.
            sent = min(max(ids.sent_ns, self.start), self.end)
            end = min(sent + int(self.upstream_seconds * 1e9), self.end)
            out += encode_fields(f"upstream {self.system}", 3, ids.trace, ids.client,
                                 ids.server, sent, end, called, None, failed)  # fmt: skip
        return out
