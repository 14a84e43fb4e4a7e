"""Route figures and SLO budget history from signal buckets: percentiles estimated from the
latency histogram, steps filled where nothing was recorded, the budget burned down."""

from __future__ import annotations

import math

from interlink.estate.kinds.data import Slo
from interlink.observe.route_figures import figures, quantile, slots
from interlink.observe.slo_history import burn_history, history_step
from interlink.store import Bucket
from interlink.store.signals import LATENCY_BOUNDS


def bucket(count: int, errors: int = 0, **at: int) -> Bucket:
    """``at`` maps a bound's index (as ``b3``) to how many fell in that histogram bucket."""
    b = Bucket(count=count, errors=errors)
    for key, n in at.items():
        b.histogram[int(key[1:])] = n
    return b


def test_percentiles_interpolate_within_the_bucket_holding_their_rank() -> None:
    # 10 requests: 4 under 5 ms, 6 between 50 and 100 ms.
    b = bucket(10, b0=4, b4=6)
    assert LATENCY_BOUNDS[3:5] == (0.05, 0.1)
    assert math.isclose(quantile(b, 0.5) or 0, 0.05 + 0.05 * 1 / 6)
    assert math.isclose(quantile(b, 0.95) or 0, 0.05 + 0.05 * 5.5 / 6)
    assert math.isclose(quantile(b, 0.2) or 0, 0.005 * 2 / 4)
    assert quantile(Bucket(), 0.5) is None
    assert quantile(bucket(3, b0=1), 0.95) == math.inf  # two slower than every bound


def test_figures_over_a_window() -> None:
    f = figures(bucket(120, errors=6, b2=120), 3600)
    assert (f.requests, f.errors, f.per_minute, f.error_rate) == (120, 6, 2.0, 0.05)
    empty = figures(None, 3600)
    assert (empty.requests, empty.per_minute, empty.error_rate, empty.p95) == (0, 0.0, None, None)


def test_slots_fill_the_steps_nothing_was_recorded_in() -> None:
    found = {120: bucket(2)}
    steps = slots(found, 70, 240, 60)
    assert [(t, b.count) for t, b in steps] == [(60, 0), (120, 2), (180, 0)]


def test_history_steps_are_whole_stored_spans() -> None:
    assert history_step(86400) == 900  # a day: minutes
    assert history_step(28 * 86400) == 25200  # four weeks: hours
    assert history_step(300) == 60


def test_the_budget_burns_down_as_bad_requests_come() -> None:
    slo = Slo.model_validate({"indicator": "availability", "objective": 99.0, "window": 300})
    found = {0: bucket(100), 60: bucket(100, errors=2), 180: bucket(100, errors=1)}
    points = burn_history(slo, found, 0, 300, 60)
    assert [p.start for p in points] == [0, 60, 120, 180, 240]
    assert [None if p.burn is None else round(p.burn, 6) for p in points] == [
        0.0, 2.0, None, 1.0, None,
    ]  # fmt: skip
    left = [None if p.remaining is None else round(p.remaining, 6) for p in points]
    # 1% allowed: after 200 requests with 2 bad the budget (2) is spent; after 300 with 3, too.
    assert left == [1.0, 0.0, 0.0, 0.0, 0.0]
    latency = Slo.model_validate(
        {"indicator": "latency", "objective": 50.0, "window": 120, "latencyThreshold": 0.1}
    )
    slow = burn_history(latency, {0: bucket(4, b0=1, b9=3)}, 0, 120, 60)
    assert (slow[0].bad, slow[0].burn, slow[0].remaining) == (3, 1.5, -0.5)
    assert slow[1].remaining == -0.5
    assert slow[1].burn is None
