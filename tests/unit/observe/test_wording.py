"""Verdicts said for owners and engineers, on the retail example estate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from interlink.estate.kinds import Monitor
from interlink.estate.loader import load_estate
from interlink.observe.verdicts import Verdict
from interlink.observe.wording import (
    Describer,
    resolved_summary,
    say_duration,
    say_moment,
    say_percent,
    say_rate,
    word,
)

MONDAY_MORNING = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def describer(tmp_path_factory: pytest.TempPathFactory) -> Describer:
    from interlink.cli.estate import write_example

    root = tmp_path_factory.mktemp("wording") / "estate"
    write_example("retail", root)
    estate, _ = load_estate(root)
    return Describer(estate)


def monitor(kind: str, name: str, type: str, **spec: Any) -> Monitor:
    settings = {"slo": {"objective": 99.9}, "freshness": {"maxAge": "1h"}, "anomaly": {}}
    return Monitor.model_validate(
        {
            "apiVersion": "interlink/v1",
            "kind": "Monitor",
            "metadata": {"name": "m"},
            "spec": {
                "target": {"kind": kind, "name": name},
                "type": type,
                type: settings[type],
                **spec,
            },
        }
    )


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (600, "10 minutes"),
        (3600, "1 hour"),
        (5400, "1.5 hours"),
        (14_400, "4 hours"),
        (47 * 3600, "47 hours"),
        (2 * 86_400, "2 days"),
    ],
)
def test_durations_are_said_in_whole_readable_units(seconds: float, said: str) -> None:
    assert say_duration(seconds) == said


def test_rates_percentages_and_moments() -> None:
    assert say_rate(118) == "about 120 an hour"
    assert say_rate(3.4) == "about 3.4 an hour"
    assert say_rate(0.25) == "about 6 a day"
    assert say_rate(0.01) == "fewer than one a day"
    assert say_percent(0.03) == "3%"
    assert say_percent(0.00123) == "0.12%"
    assert say_moment(MONDAY_MORNING) == "a Monday morning"
    assert say_moment(datetime(2026, 12, 12, 22, tzinfo=UTC)) == "a Saturday evening"


def test_freshness_of_an_event_names_publisher_consumers_and_owner(describer: Describer) -> None:
    verdict = Verdict(
        "m",
        "freshness",
        True,
        MONDAY_MORNING,
        {
            "last_seen": "2026-12-07T05:30:00+00:00",
            "age_seconds": 14_400,
            "max_age_seconds": 3600,
            "usual_per_hour": 118.0,
            "signal": "published",
        },
    )
    said = word(verdict, monitor("Event", "customer.address-updated", "freshness"), describer)
    assert said.summary == (
        "The CRM has not sent any customer.address-updated events for 4 hours; it usually sends "
        "about 120 an hour. The customer 360 data product, Analytics, the address-sync flow and "
        "1 more depend on them. "
        "Owner: Sales."
    )
    assert said.detail.startswith(
        "Monitor m (freshness, warning) on Event/customer.address-updated"
    )
    assert "age_seconds=14400" in said.detail
    assert "usual_per_hour=118.0" in said.detail


def test_freshness_without_history_says_the_limit(describer: Describer) -> None:
    verdict = Verdict(
        "m",
        "freshness",
        True,
        MONDAY_MORNING,
        {
            "age_seconds": 7200,
            "max_age_seconds": 3600,
            "usual_per_hour": None,
            "signal": "refreshed",
        },
    )
    said = word(verdict, monitor("DataProduct", "customer-addresses", "freshness"), describer)
    assert said.summary.startswith(
        "The customer addresses data product has not been refreshed for 2 hours; the monitor "
        "allows at most 1 hour."
    )


def test_slo_burn_says_the_failure_rate_and_when_the_budget_is_gone(describer: Describer) -> None:
    verdict = Verdict(
        "m",
        "slo",
        True,
        MONDAY_MORNING,
        {
            "indicator": "availability",
            "objective": 99.9,
            "error_ratio": 0.03,
            "burn_rate_long": 30.0,
            "burn_rate_short": 32.0,
            "long_window_seconds": 3600,
            "short_window_seconds": 300,
            "budget_remaining": 0.05,
        },
    )
    target = monitor("Route", "customers", "slo", slo={"objective": 99.9, "window": "30d"})
    said = word(verdict, target, describer)
    # 5% of a 30-day budget, spent 30 times faster than the budget allows: 1.2 hours.
    assert said.summary.startswith(
        "The customers route is failing 3% of requests over the last hour (objective: "
        "99.9%); at this rate the month's error budget is gone in 1 hour."
    )
    spent = Verdict("m", "slo", True, MONDAY_MORNING, {**verdict.facts, "budget_remaining": -0.1})
    assert "the month's error budget is spent." in word(spent, target, describer).summary


def test_latency_slo_says_the_threshold(describer: Describer) -> None:
    target = monitor(
        "Route",
        "customers",
        "slo",
        slo={"indicator": "latency", "objective": 99, "latencyThreshold": "300ms", "window": "7d"},
    )
    verdict = Verdict(
        "m",
        "slo",
        True,
        MONDAY_MORNING,
        {"indicator": "latency", "error_ratio": 0.05, "burn_rate_long": 5.0,
         "budget_remaining": 0.5},
    )  # fmt: skip
    assert word(verdict, target, describer).summary.startswith(
        "The customers route is answering 5% of requests slower than 300 ms; at this rate the "
        "7-day error budget is gone in 17 hours."
    )


def test_anomaly_compares_with_the_usual_for_the_time_of_week(describer: Describer) -> None:
    verdict = Verdict(
        "m",
        "anomaly",
        True,
        MONDAY_MORNING,
        {
            "metric": "volume",
            "observed": 12,
            "expected": 120,
            "deviation": 9.5,
            "direction": "down",
            "interval_seconds": 3600,
        },
    )
    said = word(verdict, monitor("Subscription", "logistics-address-updates", "anomaly"), describer)
    assert said.summary == (
        "Logistics is receiving far fewer customer.address-updated events than usual for a "
        "Monday morning: 12 against about 120 in the last hour. Owner: Logistics."
    )
    slower = Verdict(
        "m",
        "anomaly",
        True,
        MONDAY_MORNING,
        {"metric": "latency", "observed": 0.85, "expected": 0.12, "deviation": 4,
         "direction": "up"},
    )  # fmt: skip
    assert word(slower, monitor("System", "crm", "anomaly"), describer).summary.startswith(
        "The CRM is answering more slowly than usual for a Monday morning: 850 ms against about "
        "120 ms."
    )


def test_a_flow_is_not_its_own_dependent_and_a_system_lists_its_dependents(
    describer: Describer,
) -> None:
    verdict = Verdict("m", "anomaly", True, MONDAY_MORNING, {"metric": "errors", "direction": "up"})
    flow = word(verdict, monitor("Flow", "address-sync", "anomaly"), describer).summary
    assert "address-sync flow depends" not in flow
    crm = word(verdict, monitor("System", "crm", "anomaly"), describer).summary
    assert "depends on it" in crm or "depend on it" in crm


def test_resolved_summary_says_how_long_it_lasted() -> None:
    assert resolved_summary("The CRM is failing.", 5400) == (
        "Resolved after 1.5 hours. It said: The CRM is failing."
    )
