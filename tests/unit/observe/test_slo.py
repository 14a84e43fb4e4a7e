"""SLO monitors: the workbook's burn-rate windows, scaled, and when they fire."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from interlink.estate.kinds.data import Slo
from interlink.observe.slo import evaluate_slo, tiers, windows
from interlink.store import Bucket
from interlink.store.signals import LATENCY_BOUNDS

AT = datetime(2026, 1, 5, 9, tzinfo=UTC)
FACTS = {
    "indicator",
    "objective",
    "error_ratio",
    "burn_rate_long",
    "burn_rate_short",
    "long_window_seconds",
    "short_window_seconds",
    "budget_remaining",
}


def slo(**fields: object) -> Slo:
    return Slo.model_validate({"objective": 99.9, "window": "30d", **fields})


def test_the_windows_are_the_workbooks_at_30_days_and_scale_with_the_window() -> None:
    assert [(t.long, t.short, t.rate) for t in tiers(30 * 86400)] == [
        (3600, 300, 14.4),
        (6 * 3600, 1800, 6.0),
        (3 * 86400, 6 * 3600, 1.0),
    ]
    assert [(t.long, t.short) for t in tiers(7 * 86400)] == [(840, 60), (5040, 420), (60480, 5040)]
    assert tiers(3600)[0].short == 60  # never under a minute, the signals' grain
    assert windows(slo()) == {30 * 86400, 3600, 300, 21600, 1800, 259200}


def test_fast_burn_in_both_windows_fires_with_the_documented_facts() -> None:
    # 2% errors against a 0.1% budget: a burn rate of 20 in the hour and the last 5 minutes.
    totals = {w: Bucket(1000, 20) for w in windows(slo())}
    totals[30 * 86400] = Bucket(100_000, 20)
    verdict = evaluate_slo("api-up", slo(), totals, AT)
    assert verdict.firing
    assert verdict.type == "slo"
    assert set(verdict.facts) == FACTS
    assert verdict.facts["long_window_seconds"] == 3600
    assert verdict.facts["burn_rate_long"] == pytest.approx(20.0)
    assert verdict.facts["burn_rate_short"] == pytest.approx(20.0)
    assert verdict.facts["error_ratio"] == 0.02
    assert verdict.facts["budget_remaining"] == pytest.approx(0.8)


def test_a_burn_that_stopped_does_not_fire() -> None:
    totals = {w: Bucket(1000, 20) for w in windows(slo())}
    totals[300] = Bucket(100, 0)  # the short window is clean again: resolved
    totals[1800] = Bucket(100, 0)
    totals[21600] = Bucket(6000, 20)
    totals[259200] = totals[30 * 86400] = Bucket(100_000, 20)  # the budget is mostly there
    verdict = evaluate_slo("api-up", slo(), totals, AT)
    assert not verdict.firing
    assert verdict.facts["burn_rate_short"] == 0.0


def test_a_slow_burn_fires_on_the_ticket_tier_and_nothing_is_not_a_burn() -> None:
    totals = {w: Bucket(10_000, 15) for w in windows(slo())}  # 1.5x budget everywhere
    verdict = evaluate_slo("api-up", slo(), totals, AT)
    assert verdict.firing
    assert verdict.facts["long_window_seconds"] == 3 * 86400
    quiet = evaluate_slo("api-up", slo(), {}, AT)
    assert not quiet.firing
    assert quiet.facts["error_ratio"] == 0.0
    assert quiet.facts["budget_remaining"] == 1.0


def test_a_latency_slo_counts_what_is_slower_than_its_threshold() -> None:
    histogram = [0] * len(LATENCY_BOUNDS)
    histogram[LATENCY_BOUNDS.index(0.3)] = 90  # 90 within 300 ms, 10 slower
    latency = slo(indicator="latency", latencyThreshold="300ms", objective=99)
    totals = {w: Bucket(100, 0, 20.0, list(histogram)) for w in windows(latency)}
    verdict = evaluate_slo("fast", latency, totals, AT)
    assert verdict.facts["indicator"] == "latency"
    assert verdict.facts["error_ratio"] == 0.1
    assert verdict.firing  # a burn rate of 10 against 1% is over 6 (6h/30m)
