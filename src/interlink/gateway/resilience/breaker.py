"""A circuit breaker per (route, upstream System): stop calling a system that keeps failing.

Closed, it lets every request through and counts outcomes. It opens on ``consecutive``
failures in a row, or when at least :data:`MIN_VOLUME` outcomes in the last ``window``
seconds failed at ``error_rate`` or more. Open, it refuses at once (the caller answers 503
with ``Retry-After``) until ``half_open_after`` seconds have passed; then one request goes
through as a probe (half-open) while the others are still refused. The probe's success
closes the breaker, its failure opens it again for another cool-down.

Outcomes are counted in :data:`BUCKETS` time buckets over the window, so memory is fixed
whatever the traffic. Time comes from the ``clock`` given (wall-clock seconds), which tests
move by hand.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

#: Fewest outcomes in the window before the error rate may open the breaker.
MIN_VOLUME: Final = 20
#: Buckets the window is counted in.
BUCKETS: Final = 10


class BreakerState(IntEnum):
    """Also the value of the state gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    consecutive: int = 5
    error_rate: float = 0.5
    window: float = 30.0
    half_open_after: float = 10.0


class CircuitBreaker:
    """One breaker's state; every method runs on the event loop, none blocks."""

    def __init__(
        self,
        settings: BreakerSettings,
        clock: Callable[[], float],
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.on_change = on_change
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at = 0.0
        self._probing = False
        # [bucket start, outcomes, failures], oldest first
        self._buckets: deque[list[float]] = deque()

    # --- asking -------------------------------------------------------------------------------

    def allow(self) -> bool:
        """Whether a request may go to the upstream now. A True in half-open is the probe:
        its outcome must be recorded (or :meth:`release` called)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self.clock() - self.opened_at < self.settings.half_open_after:
                return False
            self._set(BreakerState.HALF_OPEN)
        if self._probing:
            return False
        self._probing = True
        return True

    def retry_after(self) -> float:
        """Whole seconds until the breaker lets a probe through (at least 1)."""
        if self.state is BreakerState.OPEN:
            left = self.opened_at + self.settings.half_open_after - self.clock()
            return float(max(1, math.ceil(left)))
        return 1.0

    # --- telling ------------------------------------------------------------------------------

    def success(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._probing = False
            self._reset()
            self._set(BreakerState.CLOSED)
            return
        self.consecutive_failures = 0
        buckets = self._buckets
        if buckets:  # most successes land in the current bucket: count them there
            bucket = buckets[-1]
            if self.clock() < bucket[0] + self.settings.window / BUCKETS:
                bucket[1] += 1
                return
        self._count(failed=False)

    def failure(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._probing = False
            self._open()
            return
        if self.state is BreakerState.OPEN:  # a request let through before it opened
            return
        self.consecutive_failures += 1
        self._count(failed=True)
        if self.consecutive_failures >= self.settings.consecutive or self._rate_exceeded():
            self._open()

    def release(self) -> None:
        """A request let through ended with no verdict on the upstream (the client went away)."""
        self._probing = False

    # --- inside -------------------------------------------------------------------------------

    def error_rate(self) -> tuple[int, int]:
        """(outcomes, failures) counted in the current window."""
        self._expire(self.clock())
        total = sum(int(b[1]) for b in self._buckets)
        failed = sum(int(b[2]) for b in self._buckets)
        return total, failed

    def _rate_exceeded(self) -> bool:
        total, failed = self.error_rate()
        return total >= MIN_VOLUME and failed >= self.settings.error_rate * total

    def _count(self, *, failed: bool) -> None:
        now = self.clock()
        self._expire(now)
        width = self.settings.window / BUCKETS
        if not self._buckets or now >= self._buckets[-1][0] + width:
            self._buckets.append([now - (now % width) if width > 0 else now, 0, 0])
        bucket = self._buckets[-1]
        bucket[1] += 1
        if failed:
            bucket[2] += 1

    def _expire(self, now: float) -> None:
        width = self.settings.window / BUCKETS
        while self._buckets and self._buckets[0][0] + width <= now - self.settings.window:
            self._buckets.popleft()
        while len(self._buckets) > BUCKETS + 1:
            self._buckets.popleft()

    def _open(self) -> None:
        self.opened_at = self.clock()
        self._reset()
        self._set(BreakerState.OPEN)

    def _reset(self) -> None:
        self.consecutive_failures = 0
        self._buckets.clear()

    def _set(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            if self.on_change is not None:
                self.on_change(state)
