"""Anomaly monitors on synthetic series (interlink.testing.series): a level shift is caught
within a few intervals; daily and weekly cycles and noise raise nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import pytest

from interlink.estate.kinds.data import Anomaly
from interlink.observe.anomaly import INTERVAL, Metric, baseline, evaluate_anomaly
from interlink.store import Bucket
from interlink.testing.series import MONDAY, hourly, replay, shifted, synthetic

WEEK = 7 * 86400
DAY = 86400
#: Wednesday of the fourth week, 10:07 and 03:07 (busy and quiet hours).
BUSY = MONDAY + 3 * WEEK + 2 * DAY + 10 * 3600 + 7 * 60
QUIET = MONDAY + 3 * WEEK + 2 * DAY + 3 * 3600 + 7 * 60
FACTS = {"metric", "observed", "expected", "deviation", "direction", "interval_seconds"}


@cache
def normal(weeks: float = 4) -> dict[int, Bucket]:
    return synthetic(weeks=weeks)


def delay(metric: Metric, factor: float, at: int, sensitivity: str = "medium") -> tuple[int, float]:
    """(false alerts before the shift, minutes from the shift to the first alert)."""
    minutes = shifted(normal(), metric, at, factor)
    anomaly = Anomaly.model_validate({"metric": metric, "sensitivity": sensitivity})
    found = replay(anomaly, minutes, at - DAY, at + DAY)
    before = [t for t in found.fired if t < at]
    after = [t for t in found.fired if t >= at]
    assert after, f"{metric} x{factor} at {at} never caught"
    return len(before), (after[0] - at) / 60


@pytest.mark.parametrize(
    ("metric", "factor"),
    [("volume", 0.5), ("volume", 2.0), ("volume", 0.0), ("latency", 2.0), ("errors", 5.0)],
)
def test_a_level_shift_is_caught_within_three_intervals(metric: Metric, factor: float) -> None:
    false_alerts, minutes = delay(metric, factor, BUSY)
    assert false_alerts == 0
    # The shift falls 7 minutes into an interval: two whole intervals after it at most.
    assert minutes <= 3 * INTERVAL / 60


def test_a_drop_at_night_is_caught_too() -> None:
    false_alerts, minutes = delay("volume", 0.3, QUIET)
    assert false_alerts == 0
    assert minutes <= 3 * INTERVAL / 60


def test_a_week_of_daily_cycles_and_weekends_raises_nothing() -> None:
    # At high sensitivity, so at medium and low too (the same scores, higher thresholds).
    found = replay(Anomaly(sensitivity="high"), normal(), MONDAY + 3 * WEEK, MONDAY + 4 * WEEK)
    assert found.intervals == 1009
    assert found.fired == []


def test_higher_sensitivity_catches_a_smaller_shift_sooner() -> None:
    at = BUSY - DAY  # Tuesday
    slowest = {s: delay("volume", 1.4, at, s)[1] for s in ("low", "medium", "high")}
    assert slowest["high"] <= slowest["medium"] <= slowest["low"]


def test_with_little_history_it_says_nothing_then_falls_back_quietly() -> None:
    minutes = normal(weeks=2)
    hours = hourly(minutes)
    assert baseline("volume", {h: b for h, b in hours.items() if h < MONDAY + 5 * 3600}) is None
    early = baseline("volume", {h: b for h, b in hours.items() if h < MONDAY + 3 * DAY})
    assert early is not None
    assert early.mode == "day"
    later = baseline("volume", {h: b for h, b in hours.items() if h < MONDAY + 8 * DAY})
    assert later is not None
    assert later.mode == "weekpart"
    # The first two weeks, the first weekend included, at medium sensitivity: no alert.
    found = replay(Anomaly(), minutes, MONDAY + 6 * 3600, MONDAY + 2 * WEEK)
    assert found.fired == []


def test_a_verdict_has_the_documented_facts() -> None:
    minutes = shifted(normal(), "volume", BUSY, 0.0)
    hours = {h: b for h, b in hourly(minutes).items() if h < BUSY // 3600 * 3600}
    base = baseline("volume", hours)
    end = BUSY // INTERVAL * INTERVAL + 2 * INTERVAL
    recent = [Bucket(), Bucket()]
    verdict = evaluate_anomaly("calls", Anomaly(), base, recent, end, datetime.now(UTC))
    assert verdict.firing
    assert set(verdict.facts) == FACTS
    assert verdict.facts["direction"] == "down"
    assert verdict.facts["observed"] == 0.0
    assert isinstance(verdict.facts["expected"], float)
    assert verdict.facts["expected"] > 100
    nothing = evaluate_anomaly("calls", Anomaly(), None, recent, end, datetime.now(UTC))
    assert not nothing.firing
    assert set(nothing.facts) == FACTS
