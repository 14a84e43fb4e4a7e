"""Synthetic signal series with known level shifts, and a replay of the anomaly evaluation
over them: what the anomaly tests and ``bench/observe_monitors.py`` measure detection delay
and false alerts on.

A series is minute buckets of a target with a daily cycle (busy by day, quiet at night),
quieter weekends, Poisson noise on counts and noisy latency and error ratio; :func:`shifted`
multiplies one metric by a factor from a given minute on (a level shift).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from interlink.estate.kinds.data import Anomaly
from interlink.observe.anomaly import INTERVAL, Baseline, Metric, baseline, evaluate_anomaly
from interlink.store import Bucket
from interlink.store.signals import HOUR, HOURS_KEPT, LATENCY_BOUNDS, MINUTE

#: A Monday 00:00 UTC, where series start (2026-01-05).
MONDAY: int = 1_767_571_200


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:  # normal approximation: exact enough, and fast
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def shape(moment: float) -> float:
    """The usual level at ``moment``, relative to the peak: a daily cycle between 0.2 (03:00)
    and 1.0 (15:00), at 60% on weekends."""
    day = (moment % 86400) / 86400
    daily = 0.6 + 0.4 * math.sin(2 * math.pi * (day - 0.375))
    weekday = ((int(moment) - MONDAY) // 86400) % 7
    return daily * (0.6 if weekday >= 5 else 1.0)


def synthetic(
    *, weeks: float = 4, peak: float = 60.0, seed: int = 1, start: int = MONDAY
) -> dict[int, Bucket]:
    """Minute buckets over ``weeks`` from ``start``: ``peak`` occurrences a minute at the
    busiest; latency around 80 ms (slower when busy), 1% failing."""
    rng = random.Random(seed)
    minutes: dict[int, Bucket] = {}
    end = start + int(weeks * 7 * 86400)
    for t in range(start, end, MINUTE):
        level = shape(t)
        count = _poisson(rng, peak * level)
        latency = 0.08 * (0.8 + 0.4 * level) * rng.lognormvariate(0, 0.15)
        errors = min(count, _poisson(rng, count * 0.01))
        minutes[t] = _bucket(count, errors, latency, t)
    return minutes


def shifted(
    minutes: dict[int, Bucket], metric: Metric, at: int, factor: float
) -> dict[int, Bucket]:
    """``minutes`` with ``metric`` multiplied by ``factor`` from ``at`` on (a level shift)."""
    found = dict(minutes)
    for t, b in minutes.items():
        if t < at or (not b.count and metric != "volume"):
            continue
        latency = b.latency_sum / b.count if b.count else 0.08
        if metric == "volume":
            count = round(b.count * factor)
            found[t] = _bucket(count, min(count, round(b.errors * factor)), latency, t)
        elif metric == "latency":
            found[t] = _bucket(b.count, b.errors, latency * factor, t)
        else:
            errors = min(b.count, round(max(b.errors, b.count * 0.01) * factor))
            found[t] = _bucket(b.count, errors, latency, t)
    return found


def _bucket(count: int, errors: int, latency: float, t: int) -> Bucket:
    histogram = [0] * len(LATENCY_BOUNDS)
    at = next((i for i, bound in enumerate(LATENCY_BOUNDS) if latency <= bound), None)
    if count and at is not None:
        histogram[at] = count
    return Bucket(count, errors, latency * count, histogram, t + 59.0 if count > errors else None)


def hourly(minutes: dict[int, Bucket]) -> dict[int, Bucket]:
    hours: dict[int, Bucket] = {}
    for t, bucket in minutes.items():
        hours.setdefault(t // HOUR * HOUR, Bucket()).add(bucket)
    return hours


def interval(minutes: dict[int, Bucket], end: int) -> Bucket:
    total = Bucket()
    for t in range(end - INTERVAL, end, MINUTE):
        found = minutes.get(t)
        if found is not None:
            total.add(found)
    return total


@dataclass(frozen=True)
class Replay:
    """The anomaly monitor evaluated at the end of every interval of [start, end)."""

    fired: list[int]  # interval ends at which it fired
    intervals: int  # how many were evaluated


def replay(anomaly: Anomaly, minutes: dict[int, Bucket], start: int, end: int) -> Replay:
    """Evaluate ``anomaly`` over ``minutes`` as the runtime does: at the end of each interval,
    against the baseline of the complete hours before it (learned again every hour)."""
    hours = hourly(minutes)
    bases: dict[int, Baseline | None] = {}
    fired = []
    count = 0
    for ends in _ends(start, end):
        hour = (ends - 1) // HOUR * HOUR
        if hour not in bases:
            past = {h: b for h, b in hours.items() if hour - HOURS_KEPT <= h < hour}
            bases[hour] = baseline(anomaly.metric, past, until=hour)
        recent = [interval(minutes, ends - INTERVAL), interval(minutes, ends)]
        verdict = evaluate_anomaly(
            "m", anomaly, bases[hour], recent, ends, datetime.fromtimestamp(ends, UTC)
        )
        count += 1
        if verdict.firing:
            fired.append(ends)
    return Replay(fired, count)


def _ends(start: int, end: int) -> Iterator[int]:
    first = (start + INTERVAL - 1) // INTERVAL * INTERVAL
    return iter(range(max(first, INTERVAL), end + 1, INTERVAL))
