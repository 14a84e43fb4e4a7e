"""The delivery layer's pure parts: schedules, Retry-After, filters, URLs and ids."""

from __future__ import annotations

import hashlib
import random
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from interlink.errors import NotFound
from interlink.estate.check import check_estate
from interlink.events.delivery.filtering import EventFilter, FilterError
from interlink.events.delivery.queue import JobKey, truncate
from interlink.events.delivery.schedule import parse_retry_after, retry_delay
from interlink.events.delivery.webhook import webhook_id, webhook_url
from tests.unit.estate.helpers import copy_retail, edit

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
SCHEDULE = (5.0, 300.0, 1800.0)

# --- the retry schedule ------------------------------------------------------------------------


def test_schedule_without_jitter_is_exact_then_exhausted() -> None:
    rng = random.Random(1)
    assert [retry_delay(n, SCHEDULE, 0.0, rng) for n in (1, 2, 3, 4)] == [5.0, 300.0, 1800.0, None]


def test_jitter_stays_within_its_band_and_is_reproducible() -> None:
    first = [retry_delay(2, SCHEDULE, 0.2, random.Random(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    rng = random.Random(3)
    draws = [retry_delay(2, SCHEDULE, 0.2, rng) for _ in range(2000)]
    values = [d for d in draws if d is not None]
    assert len(values) == len(draws)
    assert all(240.0 <= d <= 360.0 for d in values)
    assert min(values) < 250
    assert max(values) > 350


def test_empty_schedule_means_one_attempt_and_attempts_count_from_one() -> None:
    assert retry_delay(1, (), 0.2, random.Random()) is None
    with pytest.raises(ValueError, match="from 1"):
        retry_delay(0, SCHEDULE, 0.0, random.Random())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),  # past: now
        ("999999999", 86_400.0),  # bounded to a day
        ("soon", None),
        ("", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_takes_seconds_or_an_http_date(value: str | None, expected: float) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_bound_is_configurable() -> None:
    assert parse_retry_after("7200", NOW, limit=600) == 600


# --- filters -----------------------------------------------------------------------------------

EVENT = {
    "specversion": "1.0",
    "id": "e1",
    "source": "crm",
    "type": "order.created",
    "priority": 3,
    "vip": True,
    "data": {"country": "DE", "lines": [{"qty": 0}, {"qty": 2}]},
}


def test_attribute_filter_matches_exactly_including_extensions() -> None:
    assert EventFilter("s", {"source": "crm"}, None).matches(EVENT)
    assert not EventFilter("s", {"source": "erp"}, None).matches(EVENT)
    assert EventFilter("s", {"priority": "3", "vip": "true"}, None).matches(EVENT)
    assert not EventFilter("s", {"subject": "x"}, None).matches(EVENT)
    assert not EventFilter("s", {"data": "x"}, None).matches(EVENT)


def test_jsonata_filter_sees_the_whole_event() -> None:
    assert EventFilter("s", {}, 'data.country = "DE" and type = "order.created"').matches(EVENT)
    assert not EventFilter("s", {}, 'data.country = "FR"').matches(EVENT)
    assert EventFilter("s", {"source": "crm"}, "data.lines[qty > 1]").matches(EVENT)


def test_jsonata_errors_do_not_match_and_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    event_filter = EventFilter("subs-a", {}, "$number(data.country) > 1")
    assert not event_filter.matches(EVENT)
    assert not event_filter.matches(EVENT)
    assert not event_filter.matches_body(b"not json")
    warnings = [r for r in caplog.records if "subs-a" in r.getMessage()]
    assert len(warnings) == 1


def test_invalid_jsonata_is_refused_when_compiled() -> None:
    with pytest.raises(FilterError, match="invalid JSONata"):
        EventFilter("s", {}, "data.country = ")


def test_a_filter_reads_the_stored_body() -> None:
    event_filter = EventFilter("s", {"source": "crm"}, None)
    assert event_filter.matches_body(b'{"source": "crm"}')
    assert not event_filter.matches_body(b"[1]")
    assert EventFilter("s", {}, None).matches_all


# --- webhook URLs and ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "path", "url"),
    [
        ("https://h.example", "/", "https://h.example/"),
        ("https://h.example/", "/hooks", "https://h.example/hooks"),
        ("https://h.example/api/", "/hooks/a", "https://h.example/api/hooks/a"),
        ("http://127.0.0.1:9103", "/in?x=1", "http://127.0.0.1:9103/in?x=1"),
        ("https://h.example/api", "/a.b/..c", "https://h.example/api/a.b/..c"),
    ],
)
def test_webhook_url_joins_under_the_base(base: str, path: str, url: str) -> None:
    assert webhook_url(base, path) == url


@pytest.mark.parametrize(
    ("base", "path", "reason"),
    [
        ("https://h.example/api", "/../admin", "'..'"),
        ("https://h.example/api", "/a/%2e%2e/b", "'..'"),
        ("https://h.example/api", "/a/./b", "'.'"),
        ("https://h.example/api", "/a\\b", "backslash"),
        ("https://h.example/api", "//evil.example/x", "empty segments"),
        ("https://h.example/api", "/a b", "spaces"),
        ("https://h.example/api", "hooks", "start with /"),
        ("ftp://h.example", "/", "http"),
        ("https://user:pw@h.example", "/", "credentials"),
        ("https://h.example/?q=1", "/", "query"),
    ],
)
def test_webhook_url_refuses_what_could_leave_the_base(base: str, path: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        webhook_url(base, path)


def test_webhook_id_is_a_stable_digest_of_source_and_id() -> None:
    first = webhook_id("crm", "evt-1")
    assert re.fullmatch(r"msg_[0-9a-f]{32}", first)
    expected = hashlib.sha256(b"crm\nevt-1").hexdigest()[:32]
    assert first == f"msg_{expected}" == webhook_id("crm", "evt-1")
    # The same id from another source is another event, so another webhook-id.
    assert webhook_id("erp", "evt-1") != first
    assert re.fullmatch(r"msg_[0-9a-f]{32}", webhook_id("order 42 ü", "\ud800"))


def test_job_keys_round_trip_and_bad_ids_are_not_found() -> None:
    for key in (JobKey("a.b", 7), JobKey("a.b", 7, 3)):
        assert JobKey.parse(str(key)) == key
    assert str(JobKey("s", 1)) == "s:1"
    for bad in ("s", "s:x", "s:1:2:3", f"s:{1 << 63}", "s:1:-1"):
        with pytest.raises(NotFound):
            JobKey.parse(bad)


def test_responses_are_truncated() -> None:
    assert truncate("x" * 10, 4) == "xxxx…"
    assert truncate("abc", 4) == "abc"
    assert truncate(None) is None


# --- the estate rule ---------------------------------------------------------------------------


def test_check_refuses_invalid_jsonata_and_dot_segments(tmp_path: Path) -> None:
    root = copy_retail(tmp_path / "estate")
    subscriptions = root / "events" / "subscriptions.yaml"
    edit(
        subscriptions, "attributes: {source: crm}", "attributes: {source: crm}\n    jsonata: 'a = '"
    )
    edit(subscriptions, "path: /hooks/address-updated", "path: /hooks/../admin")
    result = check_estate(root)
    codes = {f.code for f in result.findings}
    assert {"SUBSCRIPTION_FILTER_INVALID", "SUBSCRIPTION_TARGET_PATH"} <= codes
    assert not result.ok
