"""Aggregating shadow comparisons in memory, per route and period, and writing them out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from interlink.errors import StoreUnavailable
from interlink.gateway.shadow.compare import MATCH, STATUS, Outcome
from interlink.gateway.shadow.mirror import MAX_FIELDS, OTHER, ComparisonLog, Period
from interlink.store import Store, open_store

T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC).timestamp()


def mismatch(*fields: str) -> Outcome:
    return Outcome(fields, fields)


def test_a_period_counts_matches_and_fields() -> None:
    period = Period()
    for outcome in (MATCH, mismatch("/name"), mismatch("/name", "/tier"), mismatch(STATUS)):
        period.add(outcome)
    assert (period.compared, period.matched) == (4, 1)
    assert period.fields == {"/name": 2, "/tier": 1, STATUS: 1}


def test_a_period_keeps_a_bounded_number_of_fields() -> None:
    period = Period()
    for i in range(MAX_FIELDS + 5):
        period.add(mismatch(f"/f{i}"))
    period.add(mismatch("/f0"))
    assert len(period.fields) == MAX_FIELDS + 1
    assert period.fields[OTHER] == 5
    assert period.fields["/f0"] == 2


def memory_store() -> Store:
    store = open_store("sqlite:///:memory:")
    store.migrate()
    return store


def test_outcomes_are_grouped_per_route_and_minute_and_flushed() -> None:
    now = [T0 + 5]
    with memory_store() as store:
        log = ComparisonLog(store, clock=lambda: now[0])
        log.record("customers", MATCH)
        log.record("customers", mismatch("/tier"))
        log.record("orders", MATCH)
        now[0] = T0 + 65
        log.record("customers", mismatch("/tier", "/name"))
        assert sorted((r, s.minute) for r, s in log.pending) == [
            ("customers", 0),
            ("customers", 1),
            ("orders", 0),
        ]
        assert log.flush() == 3
        assert log.pending == {}
        assert log.flush() == 0
        since = datetime.fromtimestamp(T0, UTC)
        summary = store.comparisons.summary("customers", since)
        assert (summary.compared, summary.matched) == (3, 1)
        assert summary.fields == [("/tier", 2), ("/name", 1)]
        later = store.comparisons.summary("customers", since + timedelta(minutes=1))
        assert (later.compared, later.matched) == (1, 0)


class FailingComparisons:
    def record(self, *args: object) -> None:
        raise StoreUnavailable("down")


class Failing:
    comparisons = FailingComparisons()


def test_counts_the_store_refuses_are_kept_for_the_next_write() -> None:
    log = ComparisonLog(Failing(), clock=lambda: T0)  # type: ignore[arg-type]
    log.record("customers", mismatch("/tier"))
    assert log.flush() == 0
    log.record("customers", MATCH)
    (counts,) = log.pending.values()
    assert (counts.compared, counts.matched, dict(counts.fields)) == (2, 1, {"/tier": 1})


def test_without_a_store_nothing_is_written() -> None:
    log = ComparisonLog(None, clock=lambda: T0)
    log.record("customers", MATCH)
    assert log.flush() == 0
