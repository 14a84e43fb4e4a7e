"""GCRA and the sliding window, decided on local counters with a clock moved by hand."""

from __future__ import annotations

import pytest

from tests.unit.gateway.plans_helpers import T0, Clock, allowed, limiter


def test_gcra_burst_then_one_per_interval() -> None:
    lim = limiter(limits=[{"requests": 10, "per": "1s", "burst": 3}])
    clock = Clock()
    # 3 at once, then one every 0.1 s: the 4th at t=0 is denied, at 0.1 s one is back.
    assert allowed(lim, clock, [0, 0, 0, 0, 0.05, 0.1, 0.1, 0.2, 0.25, 0.3]) == "+++--+-+-+"


def test_gcra_default_burst_is_the_whole_limit() -> None:
    lim = limiter(limits=[{"requests": 5, "per": "1s"}])
    clock = Clock()
    assert allowed(lim, clock, [0] * 6) == "+++++-"
    # Refill is gradual: one request every 0.2 s, not all five after a second.
    assert allowed(lim, clock, [0.19, 0.2, 0.2, 0.4]) == "-+-+"


def test_gcra_refills_fully_after_idle() -> None:
    lim = limiter(limits=[{"requests": 4, "per": "2s"}])
    clock = Clock()
    assert allowed(lim, clock, [0, 0, 0, 0, 0]) == "++++-"
    assert allowed(lim, clock, [10, 10, 10, 10, 10]) == "++++-"


def test_gcra_decision_details() -> None:
    lim = limiter(limits=[{"requests": 10, "per": "1s", "burst": 3}])
    ok, index, left, reset, retry = lim.hit("c", T0)
    assert (ok, index, left) == (True, 0, 2)
    assert reset == pytest.approx(0.1)
    lim.hit("c", T0)
    lim.hit("c", T0)
    ok, index, left, reset, retry = lim.hit("c", T0)
    assert (ok, index, left) == (False, 0, 0)
    assert retry == pytest.approx(0.1)  # one emission interval
    assert reset == pytest.approx(0.3)  # until the whole burst is back


def test_gcra_every_limit_must_allow_and_a_denial_counts_nowhere() -> None:
    lim = limiter(limits=[{"requests": 10, "per": "1s"}, {"requests": 12, "per": "1h"}])
    clock = Clock()
    assert allowed(lim, clock, [0] * 11) == "+" * 10 + "-"
    # The per-second limit refills; the hourly one has 2 left, and the denial used none.
    assert allowed(lim, clock, [1, 1, 1]) == "++-"
    ok, index, *_ = lim.hit("c", T0 + 2)
    assert (ok, index) == (False, 1)  # the hourly limit is the one denying


def test_consumers_are_counted_apart() -> None:
    lim = limiter(limits=[{"requests": 1, "per": "1s"}])
    assert lim.hit("a", T0)[0]
    assert not lim.hit("a", T0)[0]
    assert lim.hit("b", T0)[0]


def test_sliding_window_exact_sequence() -> None:
    lim = limiter(algorithm="sliding-window", limits=[{"requests": 4, "per": "10s"}])
    clock = Clock()
    # Window [0, 10): 4 allowed, the 5th denied.
    assert allowed(lim, clock, [0, 1, 2, 3, 4]) == "++++-"
    # At 12.5 s the previous window weighs 75%: 4 * 0.75 = 3, so one more fits.
    assert allowed(lim, clock, [12.5, 12.5]) == "+-"
    # At 15 s: 4 * 0.5 + 1 = 3: one more; at 17.5 s: 4 * 0.25 + 2 = 3: one more.
    assert allowed(lim, clock, [15, 15, 17.5, 17.5]) == "+-+-"


def test_sliding_window_forgets_after_two_windows() -> None:
    lim = limiter(algorithm="sliding-window", limits=[{"requests": 2, "per": "1m"}])
    clock = Clock()
    assert allowed(lim, clock, [0, 0, 0]) == "++-"
    assert allowed(lim, clock, [125, 125, 125]) == "++-"


def test_sliding_window_retry_after_is_when_the_request_fits() -> None:
    lim = limiter(algorithm="sliding-window", limits=[{"requests": 4, "per": "10s"}])
    for _ in range(4):
        lim.hit("c", T0)
    ok, _, _, reset, retry = lim.hit("c", T0 + 1)
    assert not ok
    # 4 in this window: at 10 + x the count is 4 * (1 - x/10), which is 3 at x = 2.5.
    assert retry == pytest.approx(11.5)
    assert reset == pytest.approx(19)
    assert lim.hit("c", T0 + 1 + retry)[0]


def test_sliding_window_remaining() -> None:
    lim = limiter(algorithm="sliding-window", limits=[{"requests": 4, "per": "10s"}])
    lefts = [lim.hit("c", T0)[2] for _ in range(4)]
    assert lefts == [3, 2, 1, 0]


def test_table_is_bounded_and_sweeps_idle_consumers() -> None:
    lim = limiter(max_entries=2000, limits=[{"requests": 1, "per": "1s"}])
    for i in range(5000):
        lim.hit(f"c{i}", T0 + i)  # each consumer idle again one second later
    assert len(lim.table.entries) <= 1025
    busy = limiter(max_entries=2000, limits=[{"requests": 1, "per": "1h"}])
    for i in range(5000):
        busy.hit(f"c{i}", T0)  # nobody idle: the oldest go
    assert len(busy.table.entries) <= 2000
    assert "c4999" in busy.table.entries
    assert "c0" not in busy.table.entries
