"""A gateway on its own event loop in a background thread, real upstreams, raw sockets."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools
import pytest
import uvloop

from interlink.gateway import GatewayConfig, GatewayServer, Limits
from interlink.gateway.sockets import bind
from interlink.testing.upstreams import UpstreamThread
from tests.unit.gateway.helpers import compile_dir, route, write_estate

FAST = Limits(header_timeout=1.0, keep_alive_timeout=2.0, body_timeout=2.0, shutdown_timeout=2.0)


class GatewayThread:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.server = GatewayServer(config)
        self.loop = uvloop.new_event_loop()
        self.port = 0
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayThread:
        sock = bind("127.0.0.1:0")
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start(sock))
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name="gateway", daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def update(self, config: GatewayConfig) -> None:
        self.loop.call_soon_threadsafe(self.server.update, config)

    def connections(self) -> int:
        return len(self.server.connections)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        assert self._thread is not None
        self._thread.join(10)


@dataclass
class Setup:
    gateway: GatewayThread
    upstream: UpstreamThread
    root: Path


def start_gateway(
    tmp_path: Path,
    upstream_url: str,
    routes: list[dict[str, Any]] | None = None,
    limits: Limits = FAST,
    platform: dict[str, Any] | None = None,
) -> GatewayThread:
    root = write_estate(
        tmp_path / "estate",
        {"crm": upstream_url + "/base", "down": "http://127.0.0.1:9"},
        routes
        or [
            route("customers", "/api/customers", "crm", rewrite={"path": "/customers"}),
            route("reads", "/reads", "crm", match={"methods": ["GET"]}),
            route("down", "/down", "down"),
            route(
                "slow",
                "/slow",
                "crm",
                resilience={"timeouts": {"connect": "1s", "read": "300ms"}},
            ),
        ],
        platform,
    )
    return GatewayThread(compile_dir(root, limits)).start()


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


@pytest.fixture
def setup(tmp_path: Path, upstream: UpstreamThread) -> Iterator[Setup]:
    gateway = start_gateway(tmp_path, upstream.url)
    try:
        yield Setup(gateway, upstream, tmp_path / "estate")
    finally:
        gateway.stop()


# --- raw HTTP over a socket ------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)


class _Collector:
    def __init__(self) -> None:
        self.done: list[RawResponse] = []
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.done.append(RawResponse(status, dict(self.headers), b"".join(self.body), self.headers))
        self.headers, self.body = [], []


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_responses(
    sock: socket.socket, count: int, timeout: float = 10.0, linger: float = 0.0
) -> tuple[list[RawResponse], bool]:
    """Up to ``count`` responses, and whether the server closed the connection (waiting up to
    ``linger`` seconds more for it to)."""
    collector = _Collector()
    deadline = time.monotonic() + timeout
    closed = False
    while len(collector.done) < count:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if not data:
            closed = True
            break
        collector.parser.feed_data(data)
    if not closed and linger:
        closed = closed_soon(sock, linger)
    return collector.done, closed


def closed_soon(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True if the server closes the connection (after sending anything) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


def exchange(
    port: int, data: bytes, count: int = 1, linger: float = 2.0
) -> tuple[list[RawResponse], bool]:
    """Send ``data`` on a new connection; the responses, and whether it was closed."""
    with connect(port) as sock:
        sock.sendall(data)
        return read_responses(sock, count, linger=linger)
