"""Keep-alive connections to one origin: bounded in number, reused most-recently-idle first."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque

from interlink.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from interlink.http.connection import Connection, seconds
from interlink.http.origin import Origin

# How often read timeouts are checked: they hold to within this many seconds.
SWEEP_INTERVAL = 0.1


class Pool:
    def __init__(
        self,
        origin: Origin,
        *,
        max_connections: int,
        idle_timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        unix_socket: str | None = None,
    ) -> None:
        self.origin = origin
        self.loop = asyncio.get_running_loop()
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._ssl = ssl_context
        self._unix_socket = unix_socket  # connect here rather than to the origin's host and port
        self._idle: deque[Connection] = deque()  # right end: most recently used, still warm
        self._size = 0  # open or opening
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self._busy: set[Connection] = set()  # waiting for or reading a response
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def size(self) -> int:
        return self._size

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def acquire(self, connect_timeout: float) -> Connection:
        """An idle connection, a new one, or (at the limit) the next one released."""
        conn = self.take_idle()
        if conn is not None:
            return conn
        if self._size >= self.max_connections:
            handed = await self._wait(connect_timeout)
            if handed is not None:
                return handed
        self._size += 1
        try:
            return await self._connect(connect_timeout)
        except BaseException:
            self._size -= 1
            self._wake(None)
            raise

    def take_idle(self) -> Connection | None:
        """The most recently used idle connection still worth using, if any."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if self.loop.time() - conn.idle_since < self.idle_timeout:
                return conn
            conn.close()
        return None

    def release(self, conn: Connection) -> None:
        conn.idle_since = now = self.loop.time()
        if self._wake(conn):
            return
        idle = self._idle
        idle.append(conn)
        # The oldest idle connection has probably been closed by the upstream by now, or soon
        # will be: close it ourselves, so a request never races its close.
        if len(idle) > 1 and now - idle[0].idle_since >= self.idle_timeout:
            idle.popleft().close()

    def discard(self, conn: Connection) -> None:
        """``conn`` closed: free its slot for someone waiting."""
        self._size -= 1
        with contextlib.suppress(ValueError):
            self._idle.remove(conn)
        self._wake(None)

    def watch(self, conn: Connection) -> None:
        self._busy.add(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def unwatch(self, conn: Connection) -> None:
        self._busy.discard(conn)

    def _sweep(self) -> None:
        now = self.loop.time()
        for conn in list(self._busy):
            conn.check_timeout(now)
        busy = bool(self._busy)
        self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep) if busy else None

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        while self._idle:
            self._idle.pop().close()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(
                    UpstreamUnavailable(f"client to {self.origin} closed", request_sent=False)
                )

    async def _wait(self, timeout: float) -> Connection | None:
        waiter: asyncio.Future[Connection | None] = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            raise UpstreamUnavailable(
                f"all {self.max_connections} connections to {self.origin} stayed busy for "
                f"{seconds(timeout)}",
                request_sent=False,
                retry_after=1,
            ) from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()
                if handed is not None:  # handed over just as we gave up: pass it on
                    self.release(handed)
                else:
                    self._wake(None)
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _wake(self, conn: Connection | None) -> bool:
        """Hand ``conn`` (or, with None, a free slot) to the first waiter still waiting."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    async def _connect(self, timeout: float) -> Connection:
        origin = self.origin
        try:
            async with asyncio.timeout(timeout):
                if self._unix_socket is not None:
                    _, conn = await self.loop.create_unix_connection(
                        lambda: Connection(self), self._unix_socket
                    )
                else:
                    _, conn = await self.loop.create_connection(
                        lambda: Connection(self),
                        origin.host,
                        origin.port,
                        ssl=(origin.tls_context or self._ssl) if origin.tls else None,
                        server_hostname=(origin.server_name or origin.host) if origin.tls else None,
                    )
        except TimeoutError:
            raise UpstreamTimeout(
                f"{origin} did not accept a connection within {seconds(timeout)}",
                request_sent=False,
            ) from None
        except socket.gaierror as unresolved:
            raise UpstreamError(
                f"cannot resolve {origin.host}: {unresolved.strerror}", request_sent=False
            ) from None
        except ssl.SSLCertVerificationError as refused:
            raise UpstreamError(
                f"cannot connect to {origin}: its TLS certificate is not trusted "
                f"({refused.verify_message})",
                request_sent=False,
            ) from None
        except ssl.SSLError as failed:
            raise UpstreamError(
                f"cannot connect to {origin}: the TLS handshake failed ({failed.reason})",
                request_sent=False,
            ) from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise UpstreamError(
                f"cannot connect to {origin}: {reason}", request_sent=False
            ) from None
        return conn
