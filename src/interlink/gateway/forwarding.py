"""Headers across the gateway: what the upstream learns of the client, and what comes back.

Towards the upstream: hop-by-hop headers (and those the Connection header names) are dropped;
Host becomes the upstream's; the client is appended to ``X-Forwarded-For`` and ``Forwarded``
(RFC 7239), while ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` describe this hop only; the
request id and the W3C trace context travel on, made up when absent or malformed.

Towards the client: hop-by-hop headers are dropped, the framing is the gateway's own, and the
request id is added unless the upstream set one.
"""

from __future__ import annotations

from functools import lru_cache

from interlink.gateway.ids import new_traceparent, valid_traceparent
from interlink.gateway.request import Request
from interlink.http.headers import HOP_BY_HOP, Headers, connection_tokens

_TO_UPSTREAM_DROP = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"expect",
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-request-id",
    b"traceparent",
    b"tracestate",
    # The identity headers are the gateway's to set (auth/identity.py): never the client's.
    b"x-consumer",
    b"x-consumer-scopes",
    b"x-auth-method",
}
_TO_CLIENT_DROP = HOP_BY_HOP | {b"content-length"}

VIA = b"1.1 interlink"


def _quoted(value: bytes) -> bytes:
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


@lru_cache(maxsize=4096)
def _forwarding(
    client: str, host: str | None, prior_for: bytes | None, prior: bytes | None, proto: bytes
) -> Headers:
    """X-Forwarded-* and Forwarded for one client and host: the same on every request of a
    connection, so they are built once."""
    address = client.encode("ascii")
    out = [
        (b"x-forwarded-for", prior_for + b", " + address if prior_for else address),
        (b"x-forwarded-proto", proto),
    ]
    element = b"for=" + (b'"[' + address + b']"' if b":" in address else address)
    if host:
        encoded = host.encode("latin-1")
        out.append((b"x-forwarded-host", encoded))
        element += b";host=" + _quoted(encoded)
    element += b";proto=" + proto
    out.append((b"forwarded", prior + b", " + element if prior else element))
    return out


def upstream_headers(request: Request, proto: bytes | None = None) -> Headers:
    """What the upstream is sent; ``proto`` (the scheme the client used) defaults to https on
    a TLS connection, else http."""
    if proto is None:
        proto = b"http" if request.peer is None else b"https"
    special = request.special
    drop = _TO_UPSTREAM_DROP
    if request.drop_upstream is not None:
        drop = _dropping(request.drop_upstream)
    connection = special.get(b"connection")
    if connection is not None:
        drop = drop | connection_tokens([connection])
    out = [header for header in request.headers if header[0] not in drop]
    out += _forwarding(
        request.client,
        request.host,
        special.get(b"x-forwarded-for"),
        special.get(b"forwarded"),
        proto,
    )
    out.append((b"x-request-id", request.request_id.encode("ascii")))
    parent = special.get(b"traceparent")
    if parent is not None and valid_traceparent(parent):
        out.append((b"traceparent", parent))
        state = special.get(b"tracestate")
        if state is not None:
            out.append((b"tracestate", state))
    else:
        out.append((b"traceparent", new_traceparent()))
    out.append((b"via", VIA))
    identity = request.identity
    if identity is not None:
        out += identity.headers
    return out


@lru_cache(maxsize=256)
def _dropping(extra: frozenset[bytes]) -> frozenset[bytes]:
    """What is not forwarded when a policy withholds ``extra`` too (one set per route)."""
    return _TO_UPSTREAM_DROP | extra


def client_headers(headers: Headers, request: Request) -> tuple[Headers, int | None]:
    """The upstream's response headers for the client, and its Content-Length if it gave one."""
    out: Headers = []
    length: int | None = None
    tokens: frozenset[bytes] | None = None
    has_id = False
    for name, value in headers:
        lower = name.lower()
        if lower in _TO_CLIENT_DROP:
            if lower == b"content-length":
                length = int(value)
            elif lower == b"connection":
                tokens = (tokens or frozenset()) | connection_tokens([value])
            continue
        if lower == b"x-request-id":
            has_id = True
        out.append((name, value))
    if tokens:
        out = [(n, v) for n, v in out if n.lower() not in tokens]
    if not has_id:
        out.append((b"x-request-id", request.request_id.encode("ascii")))
    return out, length
