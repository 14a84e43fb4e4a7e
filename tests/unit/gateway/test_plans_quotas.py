"""Daily and monthly quotas: calendar periods in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from interlink.gateway.plans.model import Calendar
from tests.unit.gateway.plans_helpers import limiter


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def test_daily_quota_renews_at_utc_midnight() -> None:
    lim = limiter(quotas={"daily": 3})
    late = at(2025, 3, 10, 23, 59, 58)
    assert [lim.hit("c", late)[0] for _ in range(4)] == [True, True, True, False]
    ok, index, left, reset, retry = lim.hit("c", late + 1)
    assert (ok, index, left) == (False, lim.plan.daily_index, 0)
    assert retry == pytest.approx(1)  # until 00:00:00 UTC
    assert reset == pytest.approx(1)
    midnight = at(2025, 3, 11)
    assert lim.hit("c", midnight) == (True, lim.plan.daily_index, 2, 86_400, 0.0)


def test_monthly_quota_renews_on_the_first() -> None:
    lim = limiter(quotas={"monthly": 2})
    end = at(2025, 1, 31, 23, 0)
    assert [lim.hit("c", end)[0] for _ in range(3)] == [True, True, False]
    ok, index, _, _, retry = lim.hit("c", end)
    assert (ok, index) == (False, lim.plan.monthly_index)
    assert retry == pytest.approx(3600)
    assert lim.hit("c", at(2025, 2, 1))[0]
    assert lim.hit("c", at(2025, 2, 27))[0]
    assert not lim.hit("c", at(2025, 2, 28, 23, 59, 59))[0]  # February: 28 days
    assert lim.hit("c", at(2025, 3, 1))[0]


def test_daily_and_monthly_together() -> None:
    lim = limiter(quotas={"daily": 2, "monthly": 3})
    assert [lim.hit("c", at(2025, 4, 1, 12))[0] for _ in range(3)] == [True, True, False]
    day2 = at(2025, 4, 2, 12)
    assert lim.hit("c", day2)[0]
    ok, index, *_ = lim.hit("c", day2)
    assert (ok, index) == (False, lim.plan.monthly_index)


def test_denied_requests_use_no_quota() -> None:
    lim = limiter(limits=[{"requests": 1, "per": "1m"}], quotas={"daily": 2})
    now = at(2025, 5, 5, 8)
    assert lim.hit("c", now)[0]
    for _ in range(5):
        assert not lim.hit("c", now)[0]  # the limit denies; the quota is not touched
    assert lim.hit("c", now + 60)[0]  # the second of two a day
    assert lim.hit("c", now + 120)[:2] == (False, lim.plan.daily_index)


def test_remaining_reports_the_tightest_policy() -> None:
    lim = limiter(limits=[{"requests": 10, "per": "1s"}], quotas={"daily": 3})
    now = at(2025, 5, 5, 8)
    ok, index, left, *_ = lim.hit("c", now)
    assert (ok, index, left) == (True, lim.plan.daily_index, 2)


def test_calendar_months_across_a_year() -> None:
    cal = Calendar()
    start, end, month = cal.month(at(2024, 12, 31, 23, 59, 59))
    assert (start, end) == (at(2024, 12, 1), at(2025, 1, 1))
    assert cal.month(at(2025, 1, 1))[2] == month + 1
    assert cal.month(at(2024, 2, 29, 12))[:2] == (at(2024, 2, 1), at(2024, 3, 1))


def test_quota_counts_survive_a_plan_change() -> None:
    from interlink.gateway.plans.local import LocalLimiter, table_for
    from interlink.gateway.state import SharedState
    from tests.unit.gateway.plans_helpers import compiled

    state = SharedState()
    before = compiled(limits=[{"requests": 5, "per": "1s"}], quotas={"daily": 3})
    lim = LocalLimiter(before, table_for(state, before, "orders"))
    now = at(2025, 6, 1, 9)
    lim.hit("c", now)
    lim.hit("c", now)
    after = compiled(
        algorithm="sliding-window", limits=[{"requests": 5, "per": "1m"}], quotas={"daily": 3}
    )
    lim = LocalLimiter(after, table_for(state, after, "orders"))
    assert [lim.hit("c", now + 1)[0] for _ in range(2)] == [True, False]
    same = LocalLimiter(after, table_for(state, after, "orders"))
    assert same.table is lim.table
