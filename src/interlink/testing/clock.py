"""A clock tests move by hand, so retry schedules of hours run in milliseconds.

It satisfies the delivery engine's ``Clock``: ``now()`` returns the fake time and ``sleep``
waits until the fake time has moved past its deadline. Nothing moves it but ``advance`` and
``advance_to``, so a test decides exactly when each retry becomes due.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Final

T0: Final = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    def __call__(self) -> datetime:  # also usable where a store or bus takes ``() -> datetime``
        return self._now

    def sleep(self, seconds: float) -> Awaitable[None]:
        # The deadline is fixed here, at the call: a test that advances the time before the
        # sleeper first runs must not push its deadline out.
        if seconds <= 0:
            return asyncio.sleep(0)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._now + timedelta(seconds=seconds)
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        return future

    @property
    def next_deadline(self) -> datetime | None:
        """When the earliest sleeper still waiting wakes up."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, seconds: float) -> None:
        self.advance_to(self._now + timedelta(seconds=seconds))

    def advance_to(self, when: datetime) -> None:
        """Set the time (never backwards) and wake every sleeper whose deadline has come."""
        self._now = max(self._now, when)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
