"""The time a flow engine waits in: between retries, and the limit on one step attempt.

:class:`LoopTimer` is the event loop's own time. :class:`VirtualTimer` is a clock that moves
only when something waits on it: a sleep returns at once with the clock moved on by its
length, and a sleep that would go past an attempt's time limit cancels that attempt, as
``asyncio.wait_for`` would, with the clock at the limit. `interlink flows test` runs flows on
it (the store's clock too), so retries, slow answers, timeouts and ``wait`` steps of hours
cost nothing and always come out the same. It counts the sleeps of concurrent runs (a split's
children) one after another.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
#: Loop turns a cancelled attempt takes, at most, to reach the sleeper that went past its limit.
_UNWIND = 100


class Timer(Protocol):
    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""

    async def limit(self, seconds: float, attempt: Awaitable[T]) -> T:
        """``attempt``'s result; TimeoutError when it takes longer than ``seconds``."""


class LoopTimer:
    """The event loop's time."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    async def limit(self, seconds: float, attempt: Awaitable[T]) -> T:
        return await asyncio.wait_for(attempt, seconds)


class _Limit:
    def __init__(self, deadline: datetime, outer: _Limit | None) -> None:
        self.deadline = deadline
        self.outer = outer
        self.task: asyncio.Future[Any] | None = None  # the attempt, run as a task of its own
        self.expired = False


_LIMIT: contextvars.ContextVar[_Limit | None] = contextvars.ContextVar(
    "interlink_flows_limit", default=None
)


class VirtualTimer:
    """A clock moved by the sleeps made on it; also a store's clock (``() -> datetime``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(UTC)).astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def now(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> None:
        """Move the clock on to ``moment`` (never back)."""
        self._now = max(self._now, moment)

    async def sleep(self, seconds: float) -> None:
        wake = self._now + timedelta(seconds=max(seconds, 0.0))
        # The nearest limit of the attempts this sleep is part of (nested: a child run's step
        # inside its parent's step).
        nearest, limit = None, _LIMIT.get()
        while limit is not None:
            if nearest is None or limit.deadline < nearest.deadline:
                nearest = limit
            limit = limit.outer
        if nearest is None or wake < nearest.deadline:
            self._now = wake
            await asyncio.sleep(0)  # let other tasks run, as a real sleep would
            return
        # Past the limit: the attempt is cancelled, as asyncio.wait_for cancels it, which
        # reaches this task too (it is the attempt's task, or one the attempt awaits: a
        # split's runs), and everything else the attempt started.
        self.advance_to(nearest.deadline)
        nearest.expired = True
        assert nearest.task is not None
        nearest.task.cancel()
        for _ in range(_UNWIND):
            await asyncio.sleep(0)
        raise RuntimeError("an attempt past its time limit was not cancelled")

    async def limit(self, seconds: float, attempt: Awaitable[T]) -> T:
        mine = _Limit(self._now + timedelta(seconds=seconds), _LIMIT.get())
        token = _LIMIT.set(mine)
        try:
            task: asyncio.Future[T] = asyncio.ensure_future(attempt)  # it runs with ``mine`` set
            mine.task = task
        finally:
            _LIMIT.reset(token)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if mine.expired and (current is None or not current.cancelling()):
                raise TimeoutError from None
            raise
