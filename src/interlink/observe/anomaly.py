"""Anomaly monitors: volume, latency or error rate moving away from its usual pattern.

The usual pattern is a robust seasonal baseline learned from the target's own hourly history
(up to five weeks, :mod:`interlink.store.signals`), with no model to train:

- the *profile* is the median of the metric over the same hour of the week in past weeks
  (``week``, from two weeks of history); with less, the same hour of the day on the same part
  of the week, weekday or weekend (``weekpart``, from one week), the same hour of the day
  (``day``, from two days), or else the median of every hour (``flat``, from six hours); with
  less history than that the monitor says nothing yet. The expected value at a moment is
  the profile interpolated between the two nearest hour centres, so a daily ramp is followed
  within the hour;
- the *spread* is the median absolute deviation of every past hour from its profile (scaled by
  1.4826, a standard deviation for normal noise), floored by the noise a count or a ratio has
  by nature over one interval (Poisson for volume, binomial for the error ratio) and by 5% of
  the expected value (10% for latency), so a very regular series does not alert on a blip.

Each completed :data:`INTERVAL` is scored by its robust z-score, ``(observed - expected) /
spread``. The monitor fires when the last :data:`CONSECUTIVE` intervals all lie beyond the
sensitivity's threshold (:data:`THRESHOLDS`) on the same side: one odd interval is noise, a
level shift shows in every interval after it. The fallback baselines, which cannot know the
weekly pattern, ask for more (:data:`FALLBACK_FACTOR`).

The verdict's ``observed`` and ``expected`` are per interval: occurrences for ``volume``, the
mean in seconds for ``latency``, the failed fraction for ``errors``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from interlink.estate.kinds.data import Anomaly
from interlink.observe.verdicts import Fact, Verdict
from interlink.store import Bucket
from interlink.store.signals import HOUR, MINUTE

Metric = Literal["volume", "latency", "errors"]
Mode = Literal["week", "weekpart", "day", "flat"]

#: Seconds in one scored interval.
INTERVAL: Final = 600
#: Intervals in a row beyond the threshold before the monitor fires.
CONSECUTIVE: Final = 2
#: Robust z-score a deviation must reach, by sensitivity.
THRESHOLDS: Final = {"low": 6.0, "medium": 4.5, "high": 3.5}
#: What the thresholds are multiplied by when the baseline cannot know the weekly pattern.
FALLBACK_FACTOR: Final = {"week": 1.0, "weekpart": 1.25, "day": 2.5, "flat": 2.5}
_WEEK: Final = 168
_MAD_SD: Final = 1.4826


def value(metric: Metric, bucket: Bucket, seconds: float) -> float | None:
    """``bucket``'s metric over ``seconds``: occurrences per minute, mean latency or error
    ratio; None when the bucket has nothing to measure it by."""
    if metric == "volume":
        return bucket.count * MINUTE / seconds
    if bucket.count == 0:
        return None
    if metric == "latency":
        return bucket.latency_sum / bucket.count
    return bucket.errors / bucket.count


def _group(mode: Mode, hour_start: int) -> int:
    hour = hour_start // HOUR
    if mode == "week":
        return hour % _WEEK
    if mode == "weekpart":  # the hour of the day, on a weekday or at the weekend (UTC)
        return hour % 24 + (24 if (hour // 24 + 3) % 7 >= 5 else 0)  # day 0 was a Thursday
    if mode == "day":
        return hour % 24
    return 0


@dataclass(frozen=True)
class Baseline:
    metric: Metric
    mode: Mode
    profile: Mapping[int, float]  # group → median value
    overall: float
    spread: float  # 1.4826 x MAD of hourly values around the profile

    def at_hour(self, hour_start: int) -> float:
        return self.profile.get(_group(self.mode, hour_start), self.overall)

    def expected(self, moment: float) -> float:
        """The profile at ``moment``, interpolated between the two nearest hour centres."""
        position = (moment - HOUR / 2) / HOUR
        first = math.floor(position)
        weight = position - first
        before = self.at_hour(first * HOUR)
        after = self.at_hour((first + 1) * HOUR)
        return before + (after - before) * weight


def baseline(
    metric: Metric, hours: Mapping[int, Bucket], until: int | None = None
) -> Baseline | None:
    """The baseline of ``metric`` learned from complete ``hours`` (hour start → bucket) before
    the hour ``until`` (default: after the last one); None with too little history. An hour
    missing from the first on did nothing (volume 0; no latency or error ratio to learn)."""
    if not hours:
        return None
    first = min(hours)
    last = max(hours) if until is None else until - HOUR
    span = (last - first) // HOUR + 1
    mode: Mode
    if span >= 2 * _WEEK:
        mode = "week"
    elif span >= _WEEK:
        mode = "weekpart"
    elif span >= 2 * 24:
        mode = "day"
    elif span >= 6:
        mode = "flat"
    else:
        return None
    values: dict[int, float] = {}
    if metric == "volume":
        for start in range(first, last + HOUR, HOUR):
            bucket = hours.get(start)
            values[start] = bucket.count / 60.0 if bucket is not None else 0.0
    else:
        for start, bucket in hours.items():
            v = value(metric, bucket, HOUR)
            if v is not None:
                values[start] = v
    if len(values) < 6:
        return None
    groups: dict[int, list[float]] = {}
    for start, v in values.items():
        groups.setdefault(_group(mode, start), []).append(v)
    profile = {g: statistics.median(vs) for g, vs in groups.items()}
    overall = statistics.median(values.values())
    deviations = [abs(v - profile[_group(mode, start)]) for start, v in values.items()]
    spread = _MAD_SD * statistics.median(deviations)
    return Baseline(metric, mode, profile, overall, spread)


def _spread(base: Baseline, expected: float, bucket: Bucket) -> float:
    """The spread to score one interval with: the learned one, or the floor of its nature."""
    relative = (0.10 if base.metric == "latency" else 0.05) * abs(expected)
    if base.metric == "volume":
        minutes = INTERVAL / MINUTE
        natural = math.sqrt(max(expected * minutes, 1.0)) / minutes
    elif base.metric == "errors":
        p = min(max(expected, 0.001), 0.999)
        natural = math.sqrt(p * (1 - p) / max(bucket.count, 1))
    else:
        natural = 0.0
    return max(base.spread, natural, relative, 1e-9)


def score(base: Baseline, bucket: Bucket, end: float) -> tuple[float, float, float] | None:
    """(observed, expected, robust z-score) of the interval ending at ``end``; None when the
    interval has nothing to measure."""
    observed = value(base.metric, bucket, INTERVAL)
    if observed is None:
        return None
    expected = base.expected(end - INTERVAL / 2)
    return observed, expected, (observed - expected) / _spread(base, expected, bucket)


def evaluate_anomaly(
    monitor: str,
    anomaly: Anomaly,
    base: Baseline | None,
    recent: Sequence[Bucket],
    end: float,
    at: datetime,
) -> Verdict:
    """The verdict on the completed intervals ``recent`` (oldest first, the last ending at
    ``end``), against ``base``."""
    metric: Metric = anomaly.metric
    facts: dict[str, Fact] = {
        "metric": metric,
        "observed": None,
        "expected": None,
        "deviation": None,
        "direction": None,
        "interval_seconds": INTERVAL,
    }
    if base is None or not recent:
        if recent:
            observed = value(metric, recent[-1], INTERVAL)
            facts["observed"] = _per_interval(metric, observed)
        return Verdict(monitor, "anomaly", False, at, facts)
    threshold = THRESHOLDS[anomaly.sensitivity] * FALLBACK_FACTOR[base.mode]
    scores = []
    for back, bucket in enumerate(reversed(recent[-CONSECUTIVE:])):
        scores.append(score(base, bucket, end - back * INTERVAL))
    latest = scores[0]
    firing = False
    if latest is not None:
        observed, expected, z = latest
        facts["observed"] = _per_interval(metric, observed)
        facts["expected"] = _per_interval(metric, expected)
        facts["deviation"] = z
        facts["direction"] = "up" if z >= 0 else "down"
        firing = len(scores) == CONSECUTIVE and all(
            s is not None and abs(s[2]) >= threshold and (s[2] >= 0) == (z >= 0) for s in scores
        )
    return Verdict(monitor, "anomaly", firing, at, facts)


def _per_interval(metric: Metric, v: float | None) -> float | None:
    if v is None:
        return None
    return v * INTERVAL / MINUTE if metric == "volume" else v
