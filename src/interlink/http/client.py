"""An asyncio HTTP/1.1 client with keep-alive pools per origin, streaming both ways.

Built for the gateway's hot path (pre-parsed origins, byte headers) and usable by any
component that calls systems over HTTP (webhook delivery, health probes)::

    client = HttpClient()
    response = await client.request("POST", "http://crm:8080/hooks", {"content-type": "…"}, b"…")
    body = await response.read()
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterable, Mapping, Sequence

from interlink.errors import ConfigError, UpstreamError
from interlink.http.connection import Body, Response
from interlink.http.headers import HOP_BY_HOP, Headers
from interlink.http.origin import Origin
from interlink.http.pool import Pool
from interlink.http.tls import ClientTls

# RFC 9110 §9.2.2: a request with one of these methods may be sent again without changing
# the outcome, so it is retried once when a reused connection turns out to be closed.
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})
# The client frames the message itself.
FRAMING = frozenset({b"host", b"content-length"})


class HttpClient:
    """Pooled connections per origin; one client per event loop."""

    def __init__(
        self,
        *,
        max_connections: int = 256,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        idle_timeout: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
        unix_socket: str | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        # Below the 5 s keep-alive of common servers (uvicorn, Node), so we close first.
        self.idle_timeout = idle_timeout
        self._ssl = ssl_context
        # Every connection goes to this Unix socket instead (the origin names Host only).
        self.unix_socket = unix_socket
        self._pools: dict[str, Pool] = {}

    def pool(self, origin: Origin) -> Pool:
        pool = self._pools.get(origin.key)
        if pool is None:
            ctx = origin.tls_context or self._ssl
            if ctx is None and origin.tls:
                ctx = self._ssl = ssl.create_default_context()
            pool = self._pools[origin.key] = Pool(
                origin,
                max_connections=self.max_connections,
                idle_timeout=self.idle_timeout,
                ssl_context=ctx,
                unix_socket=self.unix_socket,
            )
        return pool

    async def send(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: Body = None,
        content_length: int | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> Response:
        """Send a request and return once the response head arrived.

        ``headers`` are the end-to-end headers; Host and the framing (Content-Length or
        chunked Transfer-Encoding) are added here. A streamed ``body`` is sent with
        ``content_length`` when it is known, chunked otherwise.
        """
        pool = self._pools.get(origin.key) or self.pool(origin)
        connect = self.connect_timeout if connect_timeout is None else connect_timeout
        read = self.read_timeout if read_timeout is None else read_timeout
        for attempt in range(3):
            conn = pool.take_idle() or await pool.acquire(connect)
            reused = conn.requests > 0
            try:
                return await conn.send(method, target, headers, body, content_length, read)
            except UpstreamError as exc:
                if conn.pump_error is not None:
                    raise conn.pump_error from None
                # A kept-alive connection the upstream closed as we picked it: safe to retry
                # when nothing was sent, or when nothing came back to an idempotent request
                # whose body can be sent again.
                replayable = body is None or isinstance(body, bytes)
                unanswered = reused and not conn.received_any and method in IDEMPOTENT
                safe = not exc.request_sent or (replayable and unanswered)
                if attempt < 2 and safe and type(exc) is UpstreamError:
                    continue
                raise
            except asyncio.CancelledError:
                conn.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        body: bytes | AsyncIterable[bytes] | None = None,
        *,
        content_length: int | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        tls: ClientTls | None = None,
    ) -> Response:
        """The convenient form of :meth:`send`: a URL and text headers; ``tls`` is the
        System's own TLS (http/tls.py), for an https URL."""
        if not method.isalpha():
            raise ConfigError(f"invalid HTTP method {method!r}")
        origin, path = Origin.parse(url)
        if tls is not None and origin.tls:
            origin = origin.with_tls(tls.context, tls.server_name, tls.profile)
        items = headers.items() if isinstance(headers, Mapping) else (headers or ())
        encoded: Headers = []
        for name, value in items:
            key = name.lower().encode("latin-1")
            if key in HOP_BY_HOP or key in FRAMING:
                continue
            if "\r" in value or "\n" in value:
                raise ConfigError(f"header {name} holds a line break")
            encoded.append((key, value.encode("latin-1")))
        return await self.send(
            origin,
            method.upper().encode("ascii"),
            (path or "/").encode("latin-1"),
            encoded,
            body,
            content_length=content_length,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
