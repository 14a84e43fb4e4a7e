"""Writing counts held in memory to the store (the gateway's observed connections, the
connectors' observed calls): what a failed write could not save goes back into the table for
the next one, a failing store is said once a streak rather than at every flush, and what a
full table could not count is said when it is written out. They are written periodically,
and once more when the process stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class CountsTable(Protocol[K, V]):
    """Counts held until taken, up to ``limit`` keys; what did not fit is ``dropped``."""

    limit: int
    dropped: int

    def restore(self, counts: dict[K, V], /) -> None:
        """Put back counts a failed write could not save (as far as there is room)."""

    def take(self) -> dict[K, V]:
        """The counts held, leaving the table empty."""


class CountsSaver(Generic[K, V]):
    """Saves counts taken from ``table``, saying in ``log`` what was not saved or counted:
    ``saved`` names the counts (``observed connections``), ``kept`` when they are tried again,
    ``uncounted`` what a full table lost (``request(s)``) and ``unit`` what it is full of."""

    def __init__(
        self,
        table: CountsTable[K, V],
        log: logging.Logger,
        *,
        saved: str,
        kept: str,
        uncounted: str,
        unit: str,
    ) -> None:
        self.table = table
        self.log = log
        self.saved = saved
        self.kept = kept
        self.uncounted = uncounted
        self.unit = unit
        self.failing = False  # the last write failed

    async def save(self, counts: dict[K, V], write: Callable[[dict[K, V]], None]) -> int:
        """``write`` the ``counts`` (blocking: run in a worker thread); the keys written, 0 when
        it failed (they are back in the table)."""
        written = 0
        if counts:
            try:
                await asyncio.to_thread(write, counts)
            except Exception as exc:
                if not self.failing:  # once a streak, not every flush
                    self.log.warning("%s not saved (kept for %s): %s", self.saved, self.kept, exc)
                self.failing = True
                self.table.restore(counts)
            else:
                if self.failing:
                    self.log.info("%s saved again", self.saved)
                self.failing = False
                written = len(counts)
        if self.table.dropped:
            self.log.warning(
                "%d %s not counted in observed connections: over %d %s",
                self.table.dropped,
                self.uncounted,
                self.table.limit,
                self.unit,
            )
            self.table.dropped = 0
        return written


class Periodic:
    """Calls ``flush`` every ``interval`` seconds once started; stopping calls it once more,
    for what came since."""

    def __init__(self, flush: Callable[[], Awaitable[object]], interval: float) -> None:
        self.flush = flush
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop flushing periodically, and flush what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()


class CountsFlusher(Generic[K, V]):
    """Writes what ``table`` holds with ``write`` (blocking, run in a worker thread) every
    ``interval`` seconds and once more when stopped; ``saver`` says what was not saved."""

    def __init__(
        self,
        table: CountsTable[K, V],
        write: Callable[[dict[K, V]], None],
        saver: CountsSaver[K, V],
        interval: float,
    ) -> None:
        self.table = table
        self._write = write
        self._saver = saver
        self._periodic = Periodic(self.flush, interval)
        self._lock = asyncio.Lock()  # a periodic flush and the last one never overlap

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        """Stop flushing periodically, and write what is left."""
        await self._periodic.stop()

    async def flush(self) -> int:
        """Write the counts to the store; the keys written (0 when it failed: kept)."""
        async with self._lock:
            return await self._saver.save(self.table.take(), self._write)
