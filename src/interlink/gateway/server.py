"""The gateway's front door: one listening socket, its connections, and a graceful stop."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from interlink.events.ingress import EventIngress
from interlink.gateway.auth.token_endpoint import PATHS
from interlink.gateway.config import GatewayConfig
from interlink.gateway.events_endpoint import serve_events
from interlink.gateway.protocol import HttpProtocol
from interlink.gateway.proxy import handle
from interlink.gateway.request import Request
from interlink.http.client import HttpClient

if TYPE_CHECKING:
    from interlink.gateway.listener_tls import ListenerTls
    from interlink.gateway.telemetry.observer import GatewayObserver
    from interlink.gateway.workers.event_link import EventLink


class GatewayServer:
    """Serves from ``config``; :meth:`update` swaps it, whole, for the requests that follow."""

    loop: asyncio.AbstractEventLoop

    def __init__(
        self,
        config: GatewayConfig,
        *,
        client: HttpClient | None = None,
        events: EventIngress | EventLink | None = None,
        observer: GatewayObserver | None = None,
        tls: ListenerTls | None = None,
    ) -> None:
        self.config = config
        # HTTPS on the listener: certificates by SNI, kept current while the server runs.
        self.tls = tls
        # `/events` is the event mesh's ingress when it runs here, or a worker's link to it.
        self.events = events
        # Told of every finished request: access log, metrics, observed connections.
        self.observer = observer
        self.connections: set[HttpProtocol] = set()
        self.stopping = False
        self.clock: Callable[[], float] = time.time
        self._client = client
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._stopped = asyncio.Event()

    async def start(self, sock: socket.socket) -> None:
        self.loop = asyncio.get_running_loop()
        if self._client is None:
            self._client = HttpClient()
        tls = self.tls
        self._server = await self.loop.create_server(
            lambda: HttpProtocol(self),
            sock=sock,
            ssl=tls.context if tls is not None else None,
            # A handshake is part of sending a request head: the same time to do it.
            ssl_handshake_timeout=self.config.limits.header_timeout if tls is not None else None,
        )
        if tls is not None:
            tls.start()
        if self.observer is not None:
            self.observer.start()
        self._sweep()

    @property
    def client(self) -> HttpClient:
        assert self._client is not None, "start() first"
        return self._client

    def handle(self, request: Request, conn: HttpProtocol) -> Awaitable[None]:
        events = self.events
        if events is not None and request.reject is None and EventIngress.handles(request.path):
            if isinstance(events, EventIngress):
                return serve_events(request, conn, events)
            return events.forward(request, conn)
        oauth = self.config.oauth
        if oauth is not None and request.reject is None and request.path in PATHS:
            return oauth.serve(request, conn)
        return handle(request, conn, self.config, self.client)

    def update(self, config: GatewayConfig) -> None:
        self.config = config

    async def stop(self) -> None:
        """Stop accepting, close idle connections, let open requests finish, then close."""
        if self.stopping:
            await self._stopped.wait()
            return
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.shutdown()
        deadline = self.loop.time() + self.config.limits.shutdown_timeout
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.tls is not None:
            await self.tls.stop()
        if self._client is not None:
            await self._client.aclose()
        if self.observer is not None:
            await self.observer.stop()
        self._stopped.set()

    def _sweep(self) -> None:
        """Enforce every connection's deadline: one timer for all instead of one per request."""
        now = self.loop.time()
        for conn in list(self.connections):
            conn.check(now)
        limits = self.config.limits
        shortest = min(
            limits.header_timeout,
            limits.keep_alive_timeout,
            limits.body_timeout,
            limits.send_timeout,
        )
        self._sweeper = self.loop.call_later(min(1.0, max(0.05, shortest / 4)), self._sweep)
