"""The gateway's access log: one JSON object per request on ``interlink.gateway.access``.

A line names the request (id, method, path, the *names* of its query parameters), the answer
(status, bytes, duration), where it went (route, upstream System) and who sent it (consumer,
client address, User-Agent, the trace id of its ``traceparent``). It never holds a credential:
no header value other than the User-Agent and the trace id is read, and query values (which
may carry an API key) are left out.

``interlink serve`` gives the logger its own handler writing the bare JSON line to stderr;
``--no-access-log`` turns it off. The line is built only when the logger would emit it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Final, TextIO

if TYPE_CHECKING:
    from interlink.gateway.request import Request

ACCESS_LOGGER: Final = "interlink.gateway.access"
#: Longest User-Agent logged, in characters; longer ones are cut.
MAX_USER_AGENT: Final = 200
#: Most query parameter names logged for one request.
MAX_QUERY_NAMES: Final = 20

log = logging.getLogger(ACCESS_LOGGER)

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_time_cache: tuple[int, str] = (-1, "")


def configure_access_log(enabled: bool, stream: TextIO | None = None) -> None:
    """Write access lines to ``stream`` (stderr) as they are, or turn the log off."""
    for handler in list(log.handlers):
        if getattr(handler, "_interlink_access", False):
            log.removeHandler(handler)
    if not enabled:
        log.setLevel(logging.CRITICAL + 1)
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._interlink_access = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def timestamp(now: float) -> str:
    """RFC 3339 UTC with milliseconds; the part down to the second is formatted once a second."""
    global _time_cache
    second = int(now)
    if _time_cache[0] != second:
        _time_cache = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_time_cache[1]}.{int((now - second) * 1000):03d}Z"


def query_names(query: bytes) -> list[str]:
    """The names of ``name=value`` parameters, never a value; a bare ``token`` is left out
    (it may be the credential itself)."""
    names: list[str] = []
    for part in query.split(b"&"):
        name, sep, _ = part.partition(b"=")
        if sep and name:
            names.append(name.decode("latin-1"))
            if len(names) >= MAX_QUERY_NAMES:
                break
    return names


def trace_id(traceparent: bytes | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``), else None."""
    if traceparent is None:
        return None
    parts = traceparent.split(b"-")
    if len(parts) < 4 or len(parts[1]) != 32:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1].decode("ascii").lower()


def user_agent(request: Request) -> str | None:
    for name, value in request.headers:
        if name == b"user-agent":
            return value[:MAX_USER_AGENT].decode("latin-1")
    return None


def access_line(request: Request, now: float, duration: float, consumer: str | None) -> str:
    """The JSON line for a finished ``request`` (``now`` wall-clock, ``duration`` seconds)."""
    body = request.body
    return _encode(
        {
            "time": timestamp(now),
            "request_id": request.request_id,
            "method": request.method,
            "path": request.path,
            "query": query_names(request.query) if request.query else None,
            "status": request.status,
            "bytes_in": body.received if body is not None else 0,
            "bytes_out": request.bytes_out,
            "duration_ms": round(duration * 1000, 3),
            "route": request.route,
            "system": request.system,
            "upstream_status": request.upstream_status,
            "consumer": consumer,
            "client": request.client,
            "user_agent": user_agent(request),
            "trace_id": trace_id(request.special.get(b"traceparent")),
        }
    )
