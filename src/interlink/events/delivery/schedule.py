"""When to try a failed delivery again: the subscription's retry schedule and ``Retry-After``.

Pure functions of their inputs (the random source included), so schedules are testable exactly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

MAX_RETRY_AFTER: Final = 86_400.0
"""A receiver's ``Retry-After`` is honoured up to a day; a longer one is cut to this."""


def retry_delay(
    attempt: int, schedule: Sequence[float], jitter: float, rng: random.Random
) -> float | None:
    """Seconds to wait after failed attempt number ``attempt`` (1 = the first delivery).

    ``schedule[i]`` is the wait before attempt ``i + 2``; with ``jitter`` j the wait is drawn
    uniformly from ``[d·(1-j), d·(1+j)]`` so receivers recovering from an outage are not hit by
    every retry at the same instant. None once the schedule is exhausted.
    """
    if attempt < 1:
        raise ValueError(f"attempts count from 1, got {attempt}")
    if attempt > len(schedule):
        return None
    delay = float(schedule[attempt - 1])
    if jitter <= 0 or delay <= 0:
        return delay
    return delay * (1.0 + jitter * (2.0 * rng.random() - 1.0))


def parse_retry_after(
    value: str | None, now: datetime, limit: float = MAX_RETRY_AFTER
) -> float | None:
    """Seconds from ``now`` that a ``Retry-After`` value asks for: delta-seconds or an HTTP
    date (RFC 9110 §10.2.3), clamped to ``[0, limit]``; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        seconds = float(int(text))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP date is always GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), limit)
