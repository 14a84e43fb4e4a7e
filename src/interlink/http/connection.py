"""One keep-alive HTTP/1.1 connection to an upstream: a request out, a response in, repeat.

The response is parsed with httptools (llhttp). Its body is handed to the caller as a
:class:`BodyStream` that pauses this socket when the caller falls behind. As soon as the last
byte of a response arrives the stream is detached from the socket, so the connection can serve
the next request while the caller still reads what was buffered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from interlink.errors import UpstreamError, UpstreamTimeout
from interlink.http.headers import Headers
from interlink.http.streams import BodyStream

if TYPE_CHECKING:
    from interlink.http.pool import Pool

Body = bytes | AsyncIterable[bytes] | None
# Methods whose requests carry a body by definition: they get "content-length: 0" when empty.
BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})


def seconds(value: float) -> str:
    return f"{value:g}s"


def _until_close(headers: Headers) -> bool:
    """A body without Content-Length or chunked framing runs until the connection closes."""
    return all(name.lower() not in (b"content-length", b"transfer-encoding") for name, _ in headers)


class Response:
    """An upstream's answer: status, headers as received, and the body as a stream."""

    __slots__ = ("_connection", "body", "headers", "status")

    def __init__(
        self, status: int, headers: Headers, body: BodyStream, connection: Connection | None
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self._connection = connection

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode("latin-1")
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    async def read(self) -> bytes:
        return await self.body.read()

    def close(self) -> None:
        """Give the response up; an unfinished body closes its connection."""
        connection, self._connection = self._connection, None
        if connection is not None and not self.body.done:
            connection.abandon(self)

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Connection(asyncio.Protocol):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.requests = 0  # answered on this connection; > 0 means it was reused
        self.received_any = False
        self.idle_since = 0.0
        self._parser = HttpResponseParser(self)
        self._parser_spent = False
        self._headers: Headers = []
        self._response: Response | None = None
        self._head_waiter: asyncio.Future[Response] | None = None
        self._in_message = False
        self._interim = False
        self._is_head = False
        self._sending = False
        self._pump: asyncio.Task[None] | None = None
        self.pump_error: BaseException | None = None  # the request body's source failed
        self._read_timeout = 0.0
        self._last_read = 0.0
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._discarded = False

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._in_message:
            self.close()  # nothing was asked: an unsolicited answer poisons the connection
            return
        self._last_read = self.loop.time()
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade:
            self._fail(UpstreamError(f"{self.pool.origin} switched protocols, unsupported"))
        except HttpParserError as exc:
            reason = str(exc.__context__ or exc) or type(exc).__name__
            self._fail(UpstreamError(f"{self.pool.origin} sent an invalid response: {reason}"))

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost decides what the EOF meant

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        if self._in_message:
            response = self._response
            if response is not None and exc is None and _until_close(response.headers):
                self._in_message = False
                response.body.finish()  # a body delimited by the end of the connection
            else:
                self._fail(self._lost_error(exc))
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        if not self._discarded:
            self._discarded = True
            self.pool.discard(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # --- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if not self._in_message:
            raise UpstreamError(f"{self.pool.origin} sent a response nobody asked for")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            self._interim = True  # 1xx: informational, the real answer follows
            self._headers = []
            return
        headers = self._headers
        self._headers = []
        body = BodyStream(self._pause_reading, self._resume_reading)
        response = self._response = Response(status, headers, body, self)
        waiter = self._head_waiter
        if waiter is not None:
            self._head_waiter = None
            if not waiter.done():
                waiter.set_result(response)
        if self._is_head:
            # llhttp cannot be told that a HEAD answer has no body: end the message here and
            # give the next request a fresh parser.
            self._parser_spent = True
            body.finish()
            self._message_done()

    def on_body(self, chunk: bytes) -> None:
        response = self._response
        if response is not None:
            response.body.feed(chunk)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        response = self._response
        if response is not None and self._in_message:
            response.body.finish()
            self._message_done()

    # --- requests ----------------------------------------------------------------------------

    def send(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: Body,
        content_length: int | None,
        read_timeout: float,
    ) -> asyncio.Future[Response]:
        """Send one request; the future resolves with the head of its response."""
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise UpstreamError(f"connection to {self.pool.origin} closed", request_sent=False)
        if self._parser_spent:
            self._parser = HttpResponseParser(self)
            self._parser_spent = False
        self._is_head = method == b"HEAD"
        self._headers = []
        self._response = None
        self._in_message = True
        self._interim = False
        self.received_any = False
        self.pump_error = None
        waiter: asyncio.Future[Response] = self.loop.create_future()
        self._head_waiter = waiter
        head = b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (method, target, self.pool.origin.host_header)
        if headers:
            head += b"\r\n".join(map(b": ".join, headers)) + b"\r\n"
        if body is None or isinstance(body, bytes):
            if body:
                transport.write(b"%scontent-length: %d\r\n\r\n%s" % (head, len(body), body))
            elif method in BODY_METHODS:
                transport.write(head + b"content-length: 0\r\n\r\n")
            else:
                transport.write(head + b"\r\n")
            self._arm(read_timeout)
        else:
            if content_length is None:
                transport.write(head + b"transfer-encoding: chunked\r\n\r\n")
            else:
                transport.write(b"%scontent-length: %d\r\n\r\n" % (head, content_length))
            self._sending = True
            self._pump = self.loop.create_task(self._send_body(body, content_length, read_timeout))
        return waiter

    async def _send_body(
        self, body: AsyncIterable[bytes], content_length: int | None, read_timeout: float
    ) -> None:
        transport = self.transport
        assert transport is not None
        chunked = content_length is None
        sent = 0
        try:
            async for chunk in body:
                if not chunk:
                    continue
                if self.closed:
                    return
                sent += len(chunk)
                if chunked:
                    transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
                else:
                    transport.write(chunk)
                if self._write_paused:
                    await self._drain(read_timeout)
            if content_length is not None and sent != content_length:
                raise UpstreamError(
                    f"request body was {sent} bytes, not the {content_length} announced",
                    request_sent=True,
                )
            if chunked and not self.closed:
                transport.write(b"0\r\n\r\n")
        except asyncio.CancelledError:
            self._sending = False
            return
        except BaseException as exc:  # the body's source failed: this request cannot finish
            self.pump_error = exc
            self._sending = False
            self.close()
            return
        self._sending = False
        if self._in_message:
            self._arm(read_timeout)

    async def _drain(self, timeout: float) -> None:
        waiter = self._drain_waiter = self.loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            raise UpstreamTimeout(
                f"{self.pool.origin} did not take the request body within {seconds(timeout)}"
            ) from None
        finally:
            self._drain_waiter = None
        if self.closed:
            raise self._lost_error(None)

    # --- state -------------------------------------------------------------------------------

    def _message_done(self) -> None:
        self._in_message = False
        self._cancel_timer()
        response = self._response
        self._response = None
        if response is not None:
            response.body.detach()
        if self._sending:
            # The upstream answered before taking the whole body; the rest cannot be sent.
            self.close()
            return
        # llhttp's keep-alive verdict also covers a body that only the end of the connection
        # delimits: such a response never leaves the connection reusable.
        if self._parser.should_keep_alive() and not self.closed:
            self.requests += 1
            self.pool.release(self)
        else:
            self.close()

    def abandon(self, response: Response) -> None:
        """The caller gave up ``response`` before its end: the connection cannot be reused."""
        if self._response is response or self._head_waiter is not None:
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def _fail(self, exc: UpstreamError) -> None:
        self._in_message = False
        waiter = self._head_waiter
        self._head_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        elif self._response is not None:
            self._response.body.fail(exc)
            self._response = None
        self.close()

    def _lost_error(self, exc: Exception | None) -> UpstreamError:
        origin = self.pool.origin
        why = f": {exc.strerror or exc}" if isinstance(exc, OSError) else ""
        if self._response is not None:
            return UpstreamError(f"{origin} closed the connection in the middle of a response{why}")
        return UpstreamError(f"{origin} closed the connection without answering{why}")

    def _pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = False
            self._last_read = self.loop.time()
            self.transport.resume_reading()

    # --- read timeout: checked by the pool's sweeper, not a timer per request ----------------

    def _arm(self, timeout: float) -> None:
        self._read_timeout = timeout
        self._last_read = self.loop.time()
        self.pool.watch(self)

    def check_timeout(self, now: float) -> None:
        if not self._in_message:
            self.pool.unwatch(self)
        elif self._reading_paused:
            self._last_read = now  # our reader is behind, not the upstream
        elif now - self._last_read >= self._read_timeout:
            what = "finish its answer" if self._response is not None else "answer"
            self._fail(
                UpstreamTimeout(
                    f"{self.pool.origin} did not {what} within {seconds(self._read_timeout)}"
                )
            )

    def _cancel_timer(self) -> None:
        self.pool.unwatch(self)
