"""One client connection to the gateway: HTTP/1.1 parsed by httptools (llhttp) on asyncio.

Requests are handled one at a time, in the order they arrived, so pipelined responses come back
in order by construction. While a request is handled the connection keeps reading its body
(streamed to the handler with backpressure) and at most one socket read of what follows; once
a further request is complete and waiting, reading stops until its turn.

Whatever a client sends, the answer is a well-formed response or a closed connection: a
malformed request gets 400 and the connection closes; limits answer 413, 414 or 431; a head
that arrives too slowly gets 408. Deadlines are checked by the server's sweeper, not by a timer
per request (see :meth:`HttpProtocol.check`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from itertools import chain
from typing import Any, Protocol, cast

from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserInvalidURLError,
    HttpParserUpgrade,
    HttpRequestParser,
    parse_url,
)

from interlink.gateway.config import GatewayConfig
from interlink.gateway.paths import normalize_path
from interlink.gateway.peer import TlsPeer, peer_of
from interlink.gateway.problems import CONTENT_TYPE, problem
from interlink.gateway.request import Request
from interlink.gateway.telemetry.observer import GatewayObserver
from interlink.http.headers import Headers
from interlink.http.streams import BodyError, BodyStream

log = logging.getLogger("interlink.gateway")

STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Headers the server itself acts on, captured while parsing so nothing scans the list again.
SPECIAL = frozenset(
    {
        b"host",
        b"content-length",
        b"transfer-encoding",
        b"expect",
        b"connection",
        b"x-request-id",
        b"traceparent",
        b"tracestate",
        b"x-forwarded-for",
        b"forwarded",
    }
)

_date_cache: tuple[int, bytes] = (0, b"")


def http_date(now: float) -> bytes:
    global _date_cache
    second = int(now)
    if _date_cache[0] != second:
        _date_cache = (second, formatdate(second, usegmt=True).encode())
    return _date_cache[1]


class ClientGone(Exception):
    """The client closed its connection; there is nobody left to answer."""


class _Refusal(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Stop(Exception):
    """Raised from a parser callback to stop parsing what is left of this read."""


def _absolute_target(url: bytes) -> tuple[str, bytes, bytes | None]:
    """Path ("" when unusable), query and host of an absolute-form target (or of anything else
    that is not origin-form, which gets "")."""
    if url[:7].lower() == b"http://" or url[:8].lower() == b"https://":
        try:
            # Any: the stubs promise bytes and int where llhttp gives None for a missing part.
            parsed: Any = parse_url(url)
        except HttpParserInvalidURLError:
            return "", b"", None
        host = parsed.host + (b":%d" % parsed.port if parsed.port else b"")
        raw_path = (parsed.path or b"/").decode("latin-1")
        return normalize_path(raw_path) or "", parsed.query or b"", host
    return "", b"", None


class Server(Protocol):
    """What a connection asks of the server that accepted it
    (:class:`~interlink.gateway.server.GatewayServer`)."""

    loop: asyncio.AbstractEventLoop
    config: GatewayConfig  # read anew for each request: a reload may change the limits
    connections: set[HttpProtocol]
    observer: GatewayObserver | None
    stopping: bool
    clock: Callable[[], float]

    def handle(self, request: Request, conn: HttpProtocol) -> Awaitable[None]: ...


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = server.loop
        self.limits = server.config.limits
        self.transport: asyncio.Transport | None = None
        self.client = ""
        self.peer: TlsPeer | None = None  # a TLS connection's, read once the handshake is done
        self.closed = False
        self.parser = HttpRequestParser(self)
        # the request being parsed
        self._url = b""
        self._headers: Headers = []
        self._special: dict[bytes, bytes] = {}
        self._raw_head = 0
        self._in_head = False
        self._head_started = 0.0
        self._parsing: Request | None = None  # its head is done, its body still arriving
        self._last_read = 0.0
        # requests and their order
        self._queue: deque[Request] = deque()
        self._current: Request | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[Request] | None = None  # the task, between requests
        self._served = 0
        self._idle_since = 0.0
        self._broken = False  # nothing more is read: a parse error, a limit, a stop
        self._closing = False  # close once the queued responses are written
        self._must_close = False  # the response being written ends the connection
        self._draining = False  # shutting down: parse no new request
        self._reading_paused = False
        self._body_full = False
        # the response being written
        self._started = False
        self._finished = False
        self._chunked = False
        self._head_only = False
        self._write_paused = False
        self._write_paused_at = 0.0
        self._drain_waiter: asyncio.Future[None] | None = None

    # --- connection events -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.client = peer[0] if isinstance(peer, tuple) else "unknown"
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.peer = peer_of(ssl_object)
        self._idle_since = self._last_read = self.loop.time()
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        gone = BodyError("the client closed the connection")
        if self._parsing is not None and self._parsing.body is not None:
            self._parsing.body.fail(gone)
            self._parsing = None
        for queued in self._queue:
            if queued.body is not None:
                queued.body.fail(gone)
        self._queue.clear()
        self._wake_drain()
        if self._task is not None and not self._task.done():
            self._task.cancel()  # frees the upstream connection the handler holds

    def eof_received(self) -> bool:
        # The client will send no more; answer what it asked, then close.
        self._closing = True
        parsing = self._parsing
        if parsing is not None and parsing.body is not None:
            self._parsing = None
            parsing.body.fail(BodyError("the client ended the connection inside the body"))
        return self._current is not None or bool(self._queue)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._write_paused_at = self.loop.time()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain()

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        self._last_read = now = self.loop.time()
        if not self._in_head and self._parsing is None:
            self._in_head = True
            self._head_started = now
            self._raw_head = 0
        if self._in_head:
            self._raw_head += len(data)
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade:
            # The request asking to switch protocols was parsed and is answered as a plain
            # one; what follows it is not HTTP, so nothing more is read.
            self._no_more_requests()
        except HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Stop):
                return
            if isinstance(cause, _Refusal):
                self._refuse(cause.status, cause.detail)
            else:
                log.error("error parsing a request from %s", self.client, exc_info=cause)
                self._refuse(400, "the request could not be parsed")
        except HttpParserError as malformed:
            self._refuse(400, f"malformed request: {malformed}")
        else:
            limits = self.limits
            if self._in_head and self._raw_head > limits.max_header_bytes + limits.max_request_line:
                self._refuse(431, f"the request head exceeds {limits.max_header_bytes} bytes")

    # --- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._draining:
            self._no_more_requests()
            raise _Stop
        self.limits = self.server.config.limits  # a reload may change them
        self._url = b""
        self._headers = []
        self._special = {}
        if not self._in_head:
            self._in_head = True
            self._head_started = self._last_read
            self._raw_head = 0

    def on_url(self, part: bytes) -> None:
        url = self._url = self._url + part
        if len(url) > self.limits.max_request_line:
            raise _Refusal(414, f"the request target exceeds {self.limits.max_request_line} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        # Sizes are checked once the head is complete; until then data_received bounds what
        # an endless head can cost.
        lower = name.lower()
        self._headers.append((lower, value))
        if lower in SPECIAL:
            special = self._special
            if lower in special:
                if lower == b"host":
                    raise _Refusal(400, "more than one Host header")
                special[lower] += b", " + value
            else:
                special[lower] = value

    def on_headers_complete(self) -> None:
        self._in_head = False
        headers = self._headers
        url = self._url
        limits = self.limits
        if len(headers) > limits.max_headers:
            raise _Refusal(431, f"more than {limits.max_headers} header fields")
        size = len(url) + sum(map(len, chain.from_iterable(headers))) + 4 * len(headers)
        if size > limits.max_header_bytes:
            raise _Refusal(431, f"the request head exceeds {limits.max_header_bytes} bytes")
        parser = self.parser
        special = self._special
        target_host = None
        if url[:1] == b"/":
            raw, _, query = url.partition(b"?")
            path = normalize_path(raw.decode("latin-1")) or ""
        else:
            path, query, target_host = _absolute_target(url)
        version = parser.get_http_version()
        req = Request(
            parser.get_method(),
            path,
            query,
            version,
            headers,
            parser.should_keep_alive(),
            self.client,
            special,
        )
        req.started = self._head_started
        req.peer = self.peer
        # absolute-form: the target names the host (RFC 9112 §3.2.2)
        host = target_host or special.get(b"host")
        if host is not None:
            req.host = host.decode("latin-1").lower()
        elif version == "1.1":
            req.reject = (400, "an HTTP/1.1 request needs a Host header")
        if not path:
            req.reject = (400, "the request target must be an absolute path")
        if b"content-length" in special or b"transfer-encoding" in special or b"expect" in special:
            self._expect_body(req, special, version)
        self._enqueue(req)

    def _expect_body(self, req: Request, special: dict[bytes, bytes], version: str) -> None:
        expect = special.get(b"expect")
        if expect is not None and expect.lower() != b"100-continue":
            req.reject = (417, "only 'Expect: 100-continue' is supported")
        length = special.get(b"content-length")
        chunked = b"transfer-encoding" in special
        if not chunked and (length is None or length == b"0"):
            return
        size = None if chunked or length is None else int(length)
        limit = self.limits.max_body_bytes
        if size is not None and size > limit and req.reject is None:
            req.reject = (413, f"the body is {size} bytes; the limit is {limit}")
        if req.reject is not None:
            # Its body will not be read, so the connection cannot carry another request.
            self._enqueue(req)
            self._no_more_requests()
            raise _Stop
        body = req.body = BodyStream(self._pause_body, self._resume_body)
        req.content_length = size
        if expect is not None and version == "1.1":
            body.on_demand(self._send_continue)
        self._parsing = req

    def on_body(self, chunk: bytes) -> None:
        req = self._parsing
        if req is None or req.body is None:
            return
        body = req.body
        limit = self.limits.max_body_bytes
        if body.received + len(chunk) > limit:
            self._parsing = None
            body.fail(BodyError(f"the body exceeds the limit of {limit} bytes", status=413))
            self._no_more_requests()
            raise _Stop
        body.feed(chunk)

    def on_message_complete(self) -> None:
        req = self._parsing
        if req is not None:
            self._parsing = None
            if req.body is not None:
                req.body.finish()

    # --- order of requests -------------------------------------------------------------------

    def _enqueue(self, req: Request) -> None:
        if self._current is None:
            self._dispatch(req)
        else:
            self._queue.append(req)
            self._update_reading()

    def _dispatch(self, req: Request) -> None:
        self._current = req
        self._started = self._finished = False
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set_result(req)
        else:
            self._task = self.loop.create_task(self._serve(req))

    async def _serve(self, req: Request) -> None:
        """The connection's one task: its requests in turn, waiting between them."""
        while True:
            try:
                await self.server.handle(req, self)
            except ClientGone:
                self._observe(req)
                return
            except asyncio.CancelledError:
                self._observe(req)
                raise
            except Exception:
                log.exception(
                    "error serving %s %s (request %s)", req.method, req.path, req.request_id
                )
                if self._started or self.closed:
                    self.abort()
                    self._observe(req)
                    return
                self.send_problem(req, 500, "the gateway failed to serve this request")
            self._observe(req)
            if self.closed:
                return
            following = self._finish(req)
            if following is None:
                if self.closed or self._closing:
                    return
                waiter: asyncio.Future[Request] = self.loop.create_future()
                self._waiter = waiter
                following = await waiter
            req = following

    def _observe(self, req: Request) -> None:
        observer = self.server.observer
        if observer is not None:
            observer.finished(req, self.loop.time())

    def _finish(self, req: Request) -> Request | None:
        """Done with ``req``: the next request if one is waiting, else None."""
        if not self._finished:
            self.abort()  # a response cut short cannot be repaired
            return None
        self._current = None
        self._served += 1
        body = req.body
        if body is not None:
            if not body.done:
                self._closing = True  # the unread rest of its body is in the way
            body.detach()
        now = self.loop.time()
        if self._must_close:
            self.close()
            return None
        if self._queue:
            following = self._current = self._queue.popleft()
            self._started = self._finished = False
            self._head_started = now
            self._update_reading()
            return following
        if self._closing or self.server.stopping:
            self.close()
            return None
        self._idle_since = now
        if self._in_head:
            self._head_started = now  # a pipelined head waited for its turn, not too slow
        self._update_reading()
        return None

    def _refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` after what is already queued, then close."""
        self._no_more_requests()
        parsing = self._parsing
        if parsing is not None and parsing.body is not None:
            # The fault is in the body of a request already handed on: its handler answers.
            self._parsing = None
            parsing.body.fail(BodyError(detail, status=status))
            return
        req = Request(b"GET", "", b"", "1.1", [], False, self.client, {})
        req.reject = (status, detail)
        self._in_head = False
        self._enqueue(req)

    def _no_more_requests(self) -> None:
        self._broken = True
        self._closing = True
        self._update_reading()

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            return
        want = not self._broken and not self._body_full and not self._queue
        if want == self._reading_paused:
            self._reading_paused = not want
            if want:
                self._last_read = self.loop.time()
                transport.resume_reading()
            else:
                transport.pause_reading()

    def _pause_body(self) -> None:
        self._body_full = True
        self._update_reading()

    def _resume_body(self) -> None:
        self._body_full = False
        self._update_reading()

    # --- deadlines ---------------------------------------------------------------------------

    def check(self, now: float) -> None:
        """Called by the server's sweeper: enforce whichever deadline this connection is under."""
        limits = self.limits
        if self._write_paused and now - self._write_paused_at > limits.send_timeout:
            self.abort()  # the client stopped reading its response
            return
        if self._reading_paused or self._broken:
            return  # not reading by our own choice; nothing is late
        if self._in_head:
            if self._current is None and now - self._head_started > limits.header_timeout:
                self._refuse(408, f"the request head took over {limits.header_timeout:g}s")
        elif self._parsing is not None:
            if now - self._last_read > limits.body_timeout:
                self._refuse(408, f"the request body stalled for {limits.body_timeout:g}s")
        elif self._current is None and not self._queue:
            idle = limits.keep_alive_timeout if self._served else limits.header_timeout
            if now - self._idle_since > idle:
                self.close()

    def shutdown(self) -> None:
        """Graceful stop: finish what was received, read no further request, then close."""
        self._draining = True
        self._closing = True
        if self._current is None and not self._queue and self._parsing is None:
            self.close()

    # --- writing responses -------------------------------------------------------------------

    def _head(self, req: Request, status: int, headers: Headers, length: int | None) -> bytes:
        self._started = True
        req.status = status
        head = STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status
        if req.response_headers:
            headers = headers + req.response_headers
        if headers:
            head += b"\r\n".join(map(b": ".join, headers)) + b"\r\n"
        head_only = self._head_only = req.method_bytes == b"HEAD"
        chunked = False
        if status < 200 or status in {204, 304}:
            pass
        elif length is not None:
            head += b"content-length: %d\r\n" % length
        elif head_only:
            pass
        elif req.version == "1.1":
            head += b"transfer-encoding: chunked\r\n"
            chunked = True
        else:
            self._must_close = True  # HTTP/1.0: the body ends where the connection does
        self._chunked = chunked
        # Responses to requests already queued keep the connection; the last one closes it.
        last = self._closing and not self._queue
        if self._must_close or last or not req.keep_alive or self.server.stopping:
            self._must_close = True
            return head + b"connection: close\r\n\r\n"
        if req.version == "1.0":
            return head + b"connection: keep-alive\r\n\r\n"
        return head + b"\r\n"

    def respond(
        self,
        req: Request,
        status: int,
        headers: Headers,
        body: bytes = b"",
        *,
        length: int | None = None,
    ) -> None:
        """The whole response in one write. ``length`` overrides len(body) (HEAD answers)."""
        transport = self.transport
        if self.closed or transport is None:
            raise ClientGone
        head = self._head(req, status, headers, len(body) if length is None else length)
        if body and not self._head_only:
            req.bytes_out += len(body)
            transport.write(head + body)
        else:
            transport.write(head)
        self._finished = True

    def start(self, req: Request, status: int, headers: Headers, length: int | None) -> None:
        """Write the head; the body follows through :meth:`write` and :meth:`end`."""
        transport = self.transport
        if self.closed or transport is None:
            raise ClientGone
        transport.write(self._head(req, status, headers, length))

    def write(self, chunk: bytes) -> None:
        transport = self.transport
        if self.closed or transport is None:
            raise ClientGone
        if not chunk or self._head_only:
            return
        current = self._current
        if current is not None:
            current.bytes_out += len(chunk)
        if self._chunked:
            transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
        else:
            transport.write(chunk)

    def end(self) -> None:
        transport = self.transport
        if self.closed or transport is None:
            raise ClientGone
        if self._chunked and not self._head_only:
            transport.write(b"0\r\n\r\n")
        self._finished = True

    @property
    def write_paused(self) -> bool:
        return self._write_paused

    async def drain(self) -> None:
        """Wait while the client is behind in reading; raises ClientGone if it left."""
        if self._write_paused and not self.closed:
            waiter = self._drain_waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self._drain_waiter = None
        if self.closed:
            raise ClientGone

    def send_problem(
        self,
        req: Request,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: Headers | None = None,
        **extra: Any,
    ) -> None:
        """An RFC 9457 answer; ``instance`` is the request id."""
        body = problem(status, detail, instance=req.request_id, title=title, **extra)
        out = [
            (b"content-type", CONTENT_TYPE),
            (b"x-request-id", req.request_id.encode("ascii")),
            (b"date", http_date(self.server.clock())),
        ]
        if headers:
            out += headers
        self.respond(req, status, out, body)

    def _send_continue(self) -> None:
        if not self._started and not self.closed and self.transport is not None:
            self.transport.write(CONTINUE)

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()  # after what is buffered has been written

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
