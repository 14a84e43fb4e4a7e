"""Time for the delivery engine, behind a protocol so retry schedules can be tested instantly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the engine asks about time: the current UTC time and a sleep in that time."""

    def now(self) -> datetime:
        """The current time, UTC-aware."""
        ...

    def sleep(self, seconds: float) -> Awaitable[None]:
        """An awaitable done once ``seconds`` of this clock's time have passed, counted from
        the call (not from the first await), so a deadline never drifts."""
        ...


class SystemClock:
    """Wall-clock time and the event loop's sleep."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(max(seconds, 0.0))
