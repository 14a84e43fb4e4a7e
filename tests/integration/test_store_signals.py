"""Signals and monitor states in the store, on SQLite and PostgreSQL (``store_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from interlink.store import Bucket, MonitorState, SignalRow, Store, open_store
from interlink.store.signals import HOUR, HOURS_KEPT, LATENCY_BOUNDS, MINUTE, MINUTES_KEPT

T0 = 1_767_571_200  # a Monday 00:00 UTC


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as store:
        store.migrate()
        yield store


def bucket(count: int, errors: int = 0, fast: int = 0, seen: float | None = None) -> Bucket:
    histogram = [0] * len(LATENCY_BOUNDS)
    histogram[0] = fast  # within 5 ms
    return Bucket(count, errors, 0.5 * count, histogram, seen)


def test_buckets_add_up_and_keep_the_latest_success(store: Store) -> None:
    store.signals.record([SignalRow("Route", "orders", MINUTE, T0, bucket(3, 1, 2, T0 + 5.0))])
    store.signals.record(
        [
            SignalRow("Route", "orders", MINUTE, T0, bucket(2, 0, 1, T0 + 2.0)),  # earlier
            SignalRow("Route", "orders", MINUTE, T0 + MINUTE, bucket(1)),  # no success
            SignalRow("Event", "orders", MINUTE, T0, bucket(4, seen=T0 + 9.0)),
        ]
    )
    (first, second, event) = sorted(
        store.signals.rows(), key=lambda r: (r.kind != "Route", r.start)
    )
    assert (first.bucket.count, first.bucket.errors, first.bucket.latency_sum) == (5, 1, 2.5)
    assert first.bucket.histogram[0] == 3
    assert first.bucket.within(0.005) == 3
    assert first.bucket.last_seen == T0 + 5.0
    assert second.bucket.last_seen is None
    assert (event.kind, event.bucket.count) == ("Event", 4)


def test_totals_and_series_read_a_window_by_name(store: Store) -> None:
    store.signals.record(
        [
            SignalRow("Route", "orders", MINUTE, T0 + i * MINUTE, bucket(1, seen=T0 + i * MINUTE))
            for i in range(120)
        ]
        + [SignalRow("Route", "other", MINUTE, T0, bucket(7))]
    )
    totals = store.signals.totals(T0 + 30 * MINUTE, T0 + 90 * MINUTE, ["orders"])
    assert list(totals) == [("Route", "orders")]
    assert totals["Route", "orders"].count == 60
    assert totals["Route", "orders"].last_seen == T0 + 89 * MINUTE
    assert store.signals.totals(T0, T0 + HOUR, []) == {}
    assert store.signals.last_seen(["orders", "other", "none"]) == {
        ("Route", "orders"): T0 + 119 * MINUTE
    }
    series = store.signals.series(T0, T0 + 2 * HOUR, HOUR)
    assert {k: {s: b.count for s, b in v.items()} for k, v in series.items()} == {
        ("Route", "orders"): {T0: 60, T0 + HOUR: 60},
        ("Route", "other"): {T0: 7},
    }


def test_roll_up_folds_old_minutes_into_hours_and_drops_old_hours(store: Store) -> None:
    now = T0 + 40 * 24 * HOUR
    old = now - MINUTES_KEPT - 3 * HOUR  # two days and some: rolled into its hour
    store.signals.record(
        [
            SignalRow("Flow", "sync", MINUTE, old // HOUR * HOUR + 60, bucket(2, seen=old)),
            SignalRow("Flow", "sync", MINUTE, old // HOUR * HOUR + 120, bucket(3, 1)),
            SignalRow("Flow", "sync", MINUTE, now - HOUR, bucket(5)),  # recent: kept
            SignalRow("Flow", "sync", HOUR, now - HOURS_KEPT - 2 * HOUR, bucket(9)),  # too old
        ]
    )
    assert store.signals.roll_up(now) == 2
    rows = [(r.span, r.start, r.bucket.count, r.bucket.errors) for r in store.signals.rows()]
    assert rows == [
        (MINUTE, now - HOUR, 5, 0),
        (HOUR, old // HOUR * HOUR, 5, 1),
    ]
    # Everything is counted once: a total across both spans.
    assert store.signals.totals(0, now + HOUR)["Flow", "sync"].count == 10


def test_monitor_states_are_replaced_and_forgotten(store: Store) -> None:
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    store.monitor_states.save(
        [
            MonitorState("a", "freshness", True, at, {"age_seconds": 7200.0, "signal": "ran"}),
            MonitorState("b", "slo", False, at, {"objective": 99.9}),
        ]
    )
    store.monitor_states.save([MonitorState("a", "freshness", False, at, {"age_seconds": 3.0})])
    got = store.monitor_states.list()
    assert [(s.monitor, s.firing, s.at, s.facts) for s in got] == [
        ("a", False, at, {"age_seconds": 3.0}),
        ("b", False, at, {"objective": 99.9}),
    ]
    store.monitor_states.forget(["b"])
    assert [s.monitor for s in store.monitor_states.list()] == ["b"]
    store.monitor_states.forget([])
    assert store.monitor_states.list() == []
