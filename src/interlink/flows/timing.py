"""The time a flow engine waits in: between retries, and the limit on one step attempt.

:class:`LoopTimer` is the event loop's own time. :class:`VirtualTimer` is a clock that moves
only when something waits on it: a sleep returns at once with the clock moved on by its
length, and a sleep that would go past an attempt's time limit ends that attempt as timed out,
with the clock at the limit. `interlink flows test` runs flows on it (the store's clock too),
so retries, slow answers, timeouts and ``wait`` steps of hours cost nothing and always come
out the same. It counts the sleeps of concurrent runs (a split's children) one after another.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

T = TypeVar("T")


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


class _Expired(BaseException):
    """Unwinds an attempt past its limit. A BaseException, as cancellation is, so that no
    ``except Exception`` on the way swallows it."""

    def __init__(self, limit: _Limit) -> None:
        super().__init__()
        self.limit = limit


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
        if nearest is not None and wake >= nearest.deadline:
            self.advance_to(nearest.deadline)
            raise _Expired(nearest)
        self._now = wake
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would

    async def limit(self, seconds: float, attempt: Awaitable[T]) -> T:
        mine = _Limit(self._now + timedelta(seconds=seconds), _LIMIT.get())
        token = _LIMIT.set(mine)
        try:
            return await attempt
        except _Expired as exc:
            if exc.limit is not mine:
                raise
            raise TimeoutError from None
        finally:
            _LIMIT.reset(token)
