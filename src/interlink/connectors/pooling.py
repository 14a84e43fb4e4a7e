"""A small pool of driver connections for one System: opened as needed up to a size, reused,
and dropped when one breaks (so the next use opens a fresh one). A ConnectorError (a refused
statement) leaves the connection in the pool; a :class:`Broken` one, a cancellation or an
unexpected exception drops it, its state being unknown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from interlink.connectors.base import ConnectorError

T = TypeVar("T")


class Broken(Exception):
    """Raised inside :meth:`Pool.acquire` to drop the connection instead of reusing it; the
    wrapped ``error`` is raised in its place."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Pool(Generic[T]):
    def __init__(
        self,
        connect: Callable[[], Awaitable[T]],
        close: Callable[[T], Awaitable[None]],
        size: int,
    ) -> None:
        self._connect = connect
        self._close = close
        self._idle: list[T] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False
        self._orphans: list[T] = []

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[T]:
        if self._closed:
            raise RuntimeError("the pool is closed")
        async with self._slots:
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                yield conn
            except Broken as exc:
                await self._discard(conn)
                raise exc.error from None
            except ConnectorError:
                # A refused statement leaves the connection usable (its transaction rolled back).
                self._keep(conn)
                raise
            except BaseException:
                await self._discard(conn)  # its state is unknown after an unplanned failure
                raise
            if self._closed:
                await self._discard(conn)
            else:
                self._keep(conn)

    def _keep(self, conn: T) -> None:
        if self._closed:
            # Closed meanwhile: closing it needs an await, which a caller raising cannot give.
            self._orphans.append(conn)
        else:
            self._idle.append(conn)

    async def _discard(self, conn: T) -> None:
        with contextlib.suppress(Exception):
            await self._close(conn)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle + self._orphans, []
        self._orphans = []
        for conn in idle:
            await self._discard(conn)
