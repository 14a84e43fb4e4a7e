"""The gateway's spans: a server span per request and a client span per upstream call.

Holding a span object open per request would cost more than the request itself on the compiled
path, so the gateway picks the ids itself and hands both spans as one record once the request
is done (``Tracing.emit``; ``otlp_encoding.py`` words and encodes them, in the exporter
process). The client's ``traceparent`` is continued: the server span is its
child, in its trace (a new trace when it sent none or an invalid one), and the upstream is told
a ``traceparent`` naming the client span, so its own spans join the same trace. A client that
says its trace is not sampled (flags ``00``) is left untraced and its ``traceparent`` is passed
on as it came, as with tracing off.

Compiled with the request path (``_native.py``): the compiled modules call it through the
``RequestTracing`` protocol when tracing is on, and check one attribute for None when it is off.
"""

from __future__ import annotations

import time
from typing import Final

from interlink.gateway.request import Request
from interlink.http.headers import Headers
from interlink.observe.otlp_encoding import REQUEST
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

    def context(self, request: Request) -> str:
        ids = _ids(request, self.tracing)
        if ids is None:  # not recorded: what the gateway does for it is not either
            return f"00-{new_trace_id():032x}-{new_span_id():016x}-00"
        return f"00-{ids.trace:032x}-{ids.server:016x}-01"

    def finished(self, request: Request, now: float) -> None:
        ids = _ids(request, self.tracing)
        if ids is None:
            return
        end_ns = time.time_ns()
        started = request.started
        start_ns = end_ns - int((now - started) * 1e9) if started else end_ns
        # What the spans need, as it is: they are worded and encoded in the exporter process.
        self.tracing.emit(
            (
                REQUEST,
                ids.trace,
                ids.server,
                ids.parent,
                ids.client,
                ids.sent_ns,
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
