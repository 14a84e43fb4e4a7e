"""Shadow comparisons in the store, on SQLite and PostgreSQL (``store_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from interlink.store import Store, open_store

PERIOD = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as store:
        store.migrate()
        yield store


def test_counts_add_up_per_route_and_period(store: Store) -> None:
    store.comparisons.record("customers", PERIOD, 10, 7, {"/tier": 2, "(status)": 1})
    store.comparisons.record("customers", PERIOD, 5, 4, {"/tier": 1})  # another worker
    store.comparisons.record("customers", PERIOD + timedelta(minutes=1), 4, 1, {"/name": 3})
    store.comparisons.record("orders", PERIOD, 100, 0, {"/total": 100})
    summary = store.comparisons.summary("customers", PERIOD)
    assert (summary.route, summary.compared, summary.matched) == ("customers", 19, 12)
    assert summary.fields == [("/name", 3), ("/tier", 3), ("(status)", 1)]
    assert summary.match_rate == pytest.approx(12 / 19)
    assert store.comparisons.summary("customers", PERIOD, top=1).fields == [("/name", 3)]


def test_since_leaves_out_earlier_periods(store: Store) -> None:
    store.comparisons.record("customers", PERIOD, 10, 10, {})
    store.comparisons.record("customers", PERIOD + timedelta(hours=1), 2, 1, {"/tier": 1})
    other_zone = timezone(timedelta(hours=2))
    since = (PERIOD + timedelta(minutes=30)).astimezone(other_zone)
    summary = store.comparisons.summary("customers", since)
    assert (summary.compared, summary.matched, summary.fields) == (2, 1, [("/tier", 1)])


def test_a_route_without_comparisons_has_none(store: Store) -> None:
    summary = store.comparisons.summary("nothing", PERIOD)
    assert (summary.compared, summary.matched, summary.fields) == (0, 0, [])
    assert summary.match_rate is None
