"""A small, fast HTTP/1.1 upstream for tests and benchmarks: plain asyncio and httptools.

By default it answers every request with JSON describing what it received::

    {"method": "POST", "path": "/customers/42", "query": "a=1", "http_version": "1.1",
     "headers": {"host": "…", …}, "raw_headers": [["Host", "…"], …],
     "body": "…", "body_bytes": 5, "body_sha256": "…"}

(``body`` only while it is under 64 KiB; the size and hash always). Request headers steer it:

- ``x-echo-status: 503``: answer with this status.
- ``x-echo-delay: 1.5``: wait this many seconds before answering.
- ``x-echo-close: now``: close the connection instead of answering; ``mid-body``: send the
  head and part of the body, then close.
- ``x-echo-stream: 104857600``: answer with this many bytes, streamed in 64 KiB pieces.
- ``x-echo-connection: close``: answer with ``Connection: close`` and close.
- ``x-echo-unframed: 1``: answer without Content-Length; the end of the body is the close.

``hold(path)`` keeps requests to ``path`` unanswered (recorded) until ``release(path)``.
``fail_next(count, status)`` makes the next ``count`` requests, whatever they say, answer
``status`` (or, with ``status=0``, close the connection unanswered); then it echoes again.
``refuse(path, status)`` answers every request to ``path`` with ``status`` (a System saying no
to one order); ``delay`` (seconds) slows every answer, so calls are in flight long enough for
a test to kill their caller in the middle.

With ``fixed_body`` it skips all that and answers every request with that body (benchmarks).
``UpstreamThread`` runs one on its own event loop in a background thread, for synchronous tests;
``python -m interlink.testing.upstreams --port 9101 [--fixed]`` runs one in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

PIECE = 64 * 1024
ECHO_LIMIT = 64 * 1024


@dataclass
class _Received:
    method: str
    target: bytes
    version: str
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    body: list[bytes] = field(default_factory=list)
    body_bytes: int = 0
    digest: Any = field(default_factory=hashlib.sha256)

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return None

    def describe(self) -> dict[str, Any]:
        path, _, query = self.target.decode("latin-1").partition("?")
        merged: dict[str, str] = {}
        for key, value in self.headers:
            name = key.decode("latin-1").lower()
            text = value.decode("latin-1")
            merged[name] = f"{merged[name]}, {text}" if name in merged else text
        described: dict[str, Any] = {
            "method": self.method,
            "path": path,
            "query": query,
            "http_version": self.version,
            "headers": merged,
            "raw_headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
            "body_bytes": self.body_bytes,
            "body_sha256": self.digest.hexdigest(),
        }
        if self.body_bytes <= ECHO_LIMIT:
            described["body"] = b"".join(self.body).decode("utf-8", "replace")
        return described


class _Protocol(asyncio.Protocol):
    def __init__(self, server: EchoUpstream) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = HttpRequestParser(self)
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.current: _Received | None = None
        self.queue: deque[_Received] = deque()
        self.worker: asyncio.Task[None] | None = None
        self.can_write = asyncio.Event()
        self.can_write.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.server.connections += 1
        self.server.open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.open.discard(self)
        self.can_write.set()
        if self.worker is not None:
            self.worker.cancel()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except (HttpParserError, HttpParserUpgrade):
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()

    def on_message_begin(self) -> None:
        self.target = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.current = _Received(
            self.parser.get_method().decode("ascii"),
            self.target,
            self.parser.get_http_version(),
            self.headers,
            self.parser.should_keep_alive(),
        )

    def on_body(self, chunk: bytes) -> None:
        current = self.current
        assert current is not None
        current.body_bytes += len(chunk)
        current.digest.update(chunk)
        if current.body_bytes <= ECHO_LIMIT:
            current.body.append(chunk)

    def on_message_complete(self) -> None:
        received = self.current
        assert received is not None
        assert self.transport is not None
        self.current = None
        fixed = self.server.fixed_response
        if fixed is not None and self.worker is None:
            self.transport.write(fixed)  # the benchmark path: no task, no JSON
            self.server.served += 1
            return
        self.queue.append(received)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        while self.queue:
            await self._answer(self.queue.popleft())

    async def _answer(self, req: _Received) -> None:  # noqa: C901 - one branch per behaviour a test asks for
        transport = self.transport
        assert transport is not None
        server = self.server
        description = req.describe()
        server.requests.append(description)
        server.served += 1
        held = server.held.get(description["path"])
        if held is not None:
            await held.wait()
        delay = float(req.header(b"x-echo-delay") or 0) or server.delay
        if delay:
            await asyncio.sleep(delay)
        if server.failures:
            failure = server.failures.popleft()
            if failure == 0:
                transport.abort()
            else:
                transport.write(b"HTTP/1.1 %d X\r\ncontent-length: 0\r\n\r\n" % failure)
            return
        close = req.header(b"x-echo-close")
        if close == "now":
            transport.abort()
            return
        status = int(req.header(b"x-echo-status") or server.refused.get(description["path"], 200))
        closing = req.header(b"x-echo-connection") == "close" or not req.keep_alive
        connection = b"connection: close\r\n" if closing else b""
        stream = req.header(b"x-echo-stream")
        if stream is not None or close == "mid-body":
            size = int(stream or 1_000_000)
            transport.write(
                b"HTTP/1.1 %d X\r\ncontent-type: application/octet-stream\r\n"
                b"content-length: %d\r\n%s\r\n" % (status, size, connection)
            )
            if req.method == "HEAD":
                return
            piece = b"x" * PIECE
            left = size if close != "mid-body" else size // 2
            while left > 0:
                await self.can_write.wait()
                if transport.is_closing():
                    return
                n = min(left, PIECE)
                transport.write(piece if n == PIECE else piece[:n])
                left -= n
            if close == "mid-body":
                transport.abort()
                return
        elif req.header(b"x-echo-unframed"):
            body = json.dumps(description).encode()
            transport.write(b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\n\r\n" % status)
            transport.write(body)
            closing = True
        elif status in (204, 304):
            transport.write(b"HTTP/1.1 %d X\r\n%s\r\n" % (status, connection))
        else:
            body = json.dumps(description).encode()
            head = b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
                status,
                len(body),
            )
            transport.write(head + connection + b"\r\n" + (b"" if req.method == "HEAD" else body))
        if closing:
            transport.close()


class EchoUpstream:
    """The upstream on the running event loop: ``await start()``, then ``url``."""

    def __init__(self, *, fixed_body: bytes | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        self.served = 0
        self.open: set[_Protocol] = set()
        self.failures: deque[int] = deque()  # statuses the next requests get (0: close)
        self.held: dict[str, asyncio.Event] = {}  # paths whose requests wait for release()
        self.refused: dict[str, int] = {}  # paths answered with a status of their own
        self.delay = 0.0  # seconds every answer waits (unless a request asks for its own)
        self.fixed_response = (
            None
            if fixed_body is None
            else b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s"
            % (len(fixed_body), fixed_body)
        )
        self._server: asyncio.Server | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> EchoUpstream:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Protocol(self), host, port, backlog=1024)
        self.host = host
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for proto in list(self.open):
                if proto.transport is not None:
                    proto.transport.abort()
            await self._server.wait_closed()
            self._server = None

    def fail_next(self, count: int, status: int = 503) -> None:
        """The next ``count`` requests get ``status``; 0 closes the connection instead."""
        self.failures.extend([status] * count)

    def hold(self, path: str) -> None:
        """Requests to ``path`` are recorded, then wait unanswered until :meth:`release`."""
        self.held[path] = asyncio.Event()

    def refuse(self, path: str, status: int = 409) -> None:
        """Every request to ``path`` is answered ``status`` from now on."""
        self.refused[path] = status

    def release(self, path: str) -> None:
        """Answer the held requests to ``path`` and stop holding it."""
        event = self.held.pop(path, None)
        if event is not None:
            event.set()

    def drop_connections(self) -> None:
        """Close every open connection now, as a restarting server would."""
        for proto in list(self.open):
            if proto.transport is not None:
                proto.transport.abort()


class UpstreamThread:
    """An :class:`EchoUpstream` on its own event loop in a daemon thread, for sync tests."""

    def __init__(self, *, fixed_body: bytes | None = None, port: int = 0) -> None:
        self.upstream = EchoUpstream(fixed_body=fixed_body)
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.upstream.url

    @property
    def port(self) -> int:
        return self.upstream.port

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.upstream.requests

    @property
    def connections(self) -> int:
        return self.upstream.connections

    def start(self) -> UpstreamThread:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = _new_loop()
            try:
                loop.run_until_complete(self.upstream.start(port=self._port))
            except BaseException as exc:
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.upstream.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="echo-upstream", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise failure[0]
        return self

    def fail_next(self, count: int, status: int = 503) -> None:
        """See :meth:`EchoUpstream.fail_next`; takes effect before this returns."""
        self.upstream.fail_next(count, status)

    def hold(self, path: str) -> None:
        """See :meth:`EchoUpstream.hold`; takes effect before this returns."""
        self.upstream.hold(path)

    def refuse(self, path: str, status: int = 409) -> None:
        """See :meth:`EchoUpstream.refuse`; takes effect before this returns."""
        self.upstream.refuse(path, status)

    def slow(self, seconds: float) -> None:
        """Every answer waits ``seconds`` from now on (see :attr:`EchoUpstream.delay`)."""
        self.upstream.delay = seconds

    def release(self, path: str) -> None:
        """See :meth:`EchoUpstream.release`."""
        self.call(lambda: self.upstream.release(path))

    def call(self, fn: Any) -> None:
        """Run ``fn()`` on the upstream's loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> UpstreamThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the echo upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fixed", action="store_true", help="answer 'ok' to every request")
    args = parser.parse_args()
    loop = _new_loop()
    upstream = EchoUpstream(fixed_body=b"ok" if args.fixed else None)
    loop.run_until_complete(upstream.start(args.host, args.port))
    print(f"listening on {upstream.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_forever()


if __name__ == "__main__":
    main()
