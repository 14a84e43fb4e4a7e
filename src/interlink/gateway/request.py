"""One request as the gateway's HTTP server parsed it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from interlink.gateway.ids import request_id
from interlink.http.headers import Headers
from interlink.http.streams import BodyStream

if TYPE_CHECKING:
    from interlink.gateway.auth.identity import Identity
    from interlink.gateway.peer import TlsPeer


class Request:
    """Headers have lower-case names, in the order received. ``body`` is None without one.

    ``special`` holds the headers the gateway itself reads (Host, framing, Connection, request
    id, trace context, forwarding), each once, repeated values joined with ", ".
    """

    __slots__ = (
        "body",
        "bytes_out",
        "client",
        "consumer",
        "content_length",
        "drop_upstream",
        "headers",
        "host",
        "identity",
        "keep_alive",
        "method",
        "method_bytes",
        "observers",
        "path",
        "peer",
        "product",
        "query",
        "reject",
        "request_id",
        "response_headers",
        "route",
        "special",
        "started",
        "status",
        "system",
        "trace",
        "upstream_seconds",
        "upstream_status",
        "version",
    )

    def __init__(
        self,
        method_bytes: bytes,
        path: str,
        query: bytes,
        version: str,
        headers: Headers,
        keep_alive: bool,
        client: str,
        special: dict[bytes, bytes],
    ) -> None:
        self.method_bytes = method_bytes
        self.method = method_bytes.decode("ascii")
        self.path = path  # canonical (see paths.py); "" when it could not be made so
        self.query = query  # without the "?"; b"" when there is none
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.client = client  # the peer's IP address
        self.peer: TlsPeer | None = None  # set on a TLS connection: its client certificate
        self.special = special
        self.request_id = request_id(special.get(b"x-request-id"))
        self.host: str | None = None  # lower-case Host, with its port if given
        self.body: BodyStream | None = None
        self.content_length: int | None = None
        self.reject: tuple[int, str] | None = None  # answered with this, never routed
        # The Consumer this request comes from, once authentication has named it.
        self.consumer: str | None = None
        # Headers policies add to whatever answer the client gets (RateLimit, Deprecation, …).
        self.response_headers: Headers = []
        # Called with (status, headers, body) of a complete upstream answer once it is sent
        # (response validation); never for streamed answers.
        self.observers: list[Callable[[int, Headers, bytes], None]] | None = None
        # Set by the authentication policy: who called, and the credential headers (API key,
        # Authorization) not to forward; the upstream gets the identity headers instead.
        self.identity: Identity | None = None
        self.drop_upstream: frozenset[bytes] | None = None
        # What observability reads once the request is done (gateway/telemetry/): when its head
        # began arriving (loop time), the status and body bytes sent, the route that served it,
        # the upstream System it went to, that System's status (0: no answer) and its latency.
        self.started = 0.0
        self.status = 0
        self.bytes_out = 0
        self.route: str | None = None
        self.system: str | None = None
        # The DataProduct a product route answered from (``DataProduct/NAME``): a read.
        self.product: str | None = None
        self.upstream_status: int | None = None
        self.upstream_seconds = 0.0
        # With tracing on, the ids of its spans once it went upstream (telemetry/tracing.py).
        self.trace: object = None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path} {self.request_id}>"
