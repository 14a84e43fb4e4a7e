"""Freshness monitors: quiet for longer than maxAge fires."""

from __future__ import annotations

from interlink.observe.freshness import evaluate_freshness

NOW = 1_767_600_000.0
FACTS = {"last_seen", "age_seconds", "max_age_seconds", "usual_per_hour", "signal"}


def test_older_than_max_age_fires_with_the_documented_facts() -> None:
    verdict = evaluate_freshness("fresh", "Event", 3600, NOW - 7200, NOW - 90_000, NOW, 120.0)
    assert verdict.firing
    assert verdict.type == "freshness"
    assert set(verdict.facts) == FACTS
    assert verdict.facts["age_seconds"] == 7200
    assert verdict.facts["last_seen"] == "2026-01-05T06:00:00+00:00"
    assert verdict.facts["signal"] == "published"
    assert verdict.facts["usual_per_hour"] == 120.0
    assert not evaluate_freshness("fresh", "Flow", 3600, NOW - 60, NOW, NOW, None).firing


def test_a_target_never_seen_is_aged_from_when_it_was_first_watched() -> None:
    young = evaluate_freshness("fresh", "Subscription", 3600, None, NOW - 60, NOW, None)
    assert not young.firing
    assert young.facts["age_seconds"] is None
    assert young.facts["signal"] == "delivered"
    assert evaluate_freshness("fresh", "Subscription", 3600, None, NOW - 3601, NOW, None).firing
