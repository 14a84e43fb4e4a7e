"""A message body arriving in chunks from a socket, read once by one consumer, with backpressure.

The producer (a protocol's ``data_received``) feeds chunks. Past ``high`` buffered bytes the
stream asks the producer to pause reading its socket, and asks it to resume once the consumer
has taken the buffer below ``low``. Memory per body is therefore bounded by ``high`` plus one
socket read, whatever the size of the body.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from interlink.errors import InterlinkError

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class BodyError(InterlinkError):
    """The body of a request could not be read whole: too large, malformed, or cut off."""

    status = 400
    title = "Bad request"

    def __init__(self, message: str, *, status: int = 400, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        if title is not None:
            self.title = title


class BodyStream:
    """Chunks of one body, in order; iterate it (``async for``) or ``await read()``."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_done",
        "_error",
        "_high",
        "_low",
        "_on_demand",
        "_pause",
        "_paused",
        "_resume",
        "_waiter",
        "received",
    )

    def __init__(
        self,
        pause: Callable[[], None] | None = None,
        resume: Callable[[], None] | None = None,
        *,
        high: int = HIGH_WATER,
        low: int = LOW_WATER,
    ) -> None:
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._pause = pause
        self._resume = resume
        self._paused = False
        self._high = high
        self._low = low
        self._on_demand: Callable[[], None] | None = None
        self.received = 0

    @classmethod
    def of(cls, data: bytes) -> BodyStream:
        """A stream that is already complete, holding ``data``."""
        stream = cls()
        if data:
            stream.feed(data)
        stream.finish()
        return stream

    # --- producer side ---------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self.received += len(chunk)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._buffered > self._high and not self._paused and self._pause is not None:
            self._paused = True
            self._pause()

    def finish(self) -> None:
        self._done = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if not self._done:
            self._error = exc
            self._done = True
            self._wake()

    def detach(self) -> None:
        """Stop steering the producer: what is buffered stays readable, the socket is free."""
        if self._paused and self._resume is not None:
            self._resume()
        self._paused = False
        self._pause = self._resume = None

    def on_demand(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, the first time the consumer waits for data (100-continue)."""
        self._on_demand = callback

    # --- consumer side ---------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Nothing more will arrive (the body ended, or failed)."""
        return self._done

    @property
    def complete(self) -> bool:
        """The whole body arrived and is buffered here."""
        return self._done and self._error is None

    @property
    def error(self) -> BaseException | None:
        return self._error

    def take(self) -> bytes:
        """Everything buffered now, as one bytes object."""
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        self._relieve()
        return data

    def __aiter__(self) -> BodyStream:
        return self

    async def __anext__(self) -> bytes:
        while True:
            if self._chunks:
                # Coalesce what is buffered: fewer, larger writes downstream.
                return self.take()
            if self._error is not None:
                raise self._error
            if self._done:
                raise StopAsyncIteration
            if self._on_demand is not None:
                callback, self._on_demand = self._on_demand, None
                callback()
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    async def read(self) -> bytes:
        """The rest of the body. Only for bodies known to be small."""
        parts = [chunk async for chunk in self]
        return b"".join(parts)

    def _relieve(self) -> None:
        if self._paused and self._buffered <= self._low:
            self._paused = False
            if self._resume is not None:
                self._resume()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
