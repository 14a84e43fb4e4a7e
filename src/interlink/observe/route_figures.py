"""A gateway Route's figures over a window, from the signals the gateway records for it each
minute (:mod:`interlink.observe.signals`): requests, the rate, the 5xx share and latency
percentiles estimated from the buckets' histogram.

A percentile is interpolated within the histogram bucket that holds its rank (the requests in a
bucket taken as spread evenly over it), so it is an estimate, as exact as the bucket bounds
(:data:`~interlink.store.signals.LATENCY_BOUNDS`); one beyond the last bound is infinite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from interlink.store import Bucket
from interlink.store.signals import LATENCY_BOUNDS

#: The windows offered, as (their length, the step of their series), in seconds. The steps are
#: multiples of the stored spans: minutes for two days back, hours beyond (store/signals.py).
WINDOWS: Final = {
    "1h": (3600, 60),
    "6h": (6 * 3600, 300),
    "24h": (24 * 3600, 900),
    "7d": (7 * 24 * 3600, 3600),
}


def quantile(bucket: Bucket, q: float) -> float | None:
    """The latency (seconds) under which a share ``q`` (0 to 1) of ``bucket``'s occurrences
    fell; None when there were none, ``inf`` when it lies beyond the histogram's last bound."""
    if bucket.count == 0:
        return None
    rank = q * bucket.count
    seen = 0
    lower = 0.0
    for bound, n in zip(LATENCY_BOUNDS, bucket.histogram, strict=True):
        if n and seen + n >= rank:
            return lower + (bound - lower) * max(rank - seen, 0.0) / n
        seen += n
        lower = bound
    return math.inf


@dataclass(frozen=True)
class Figures:
    """What a Route did over ``seconds``."""

    requests: int
    errors: int
    seconds: float
    p50: float | None
    p95: float | None

    @property
    def per_minute(self) -> float:
        return self.requests * 60.0 / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_rate(self) -> float | None:
        """5xx answers out of requests, 0 to 1; None when there was no request."""
        return self.errors / self.requests if self.requests else None


def figures(bucket: Bucket | None, seconds: float) -> Figures:
    if bucket is None:
        return Figures(0, 0, seconds, None, None)
    return Figures(
        bucket.count, bucket.errors, seconds, quantile(bucket, 0.5), quantile(bucket, 0.95)
    )


def slots(
    found: Mapping[int, Bucket], since: int, until: int, step: int
) -> list[tuple[int, Bucket]]:
    """Every step from ``since`` (aligned down to the step) to ``until`` with its bucket, an
    empty one where nothing was recorded."""
    first = since - since % step
    return [(start, found.get(start) or Bucket()) for start in range(first, until, step)]
