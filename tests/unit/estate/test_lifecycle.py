"""Lifecycle bindings: who is bound to a deprecated or retired Api, Event or schema version."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from interlink.cli.check import check_command
from interlink.cli.estate import graph_command
from interlink.estate.check import check_estate
from interlink.estate.findings import EstateLoadError
from interlink.estate.kinds.base import Lifecycle
from interlink.estate.rules import RULES
from interlink.runtime.snapshot import compile_snapshot
from tests.unit.estate.helpers import RETAIL, TODAY, edit

APIS = "apis.yaml"
EVENT = "events/customer-address-updated.yaml"
V1_LIFECYCLE = "  lifecycle: deprecated\n  sunset: 2027-06-30\n  successor: customers-v2\n"
SCHEMA_V1 = "- {version: 1, file: ../contracts/customer.address-updated.v1.schema.json}"


def lifecycle_messages(root: Path, today: date = TODAY) -> list[str]:
    result = check_estate(root, today=today)
    return [
        f.render(result.estate.root) for f in result.findings if f.code.startswith("LIFECYCLE_")
    ]


def test_the_example_binds_a_route_and_its_consumers_to_customers_v1() -> None:
    result = check_estate(RETAIL, today=TODAY)
    assert [(b.who, b.via) for b in result.lifecycle] == [
        ("Route/customers", None),
        ("Consumer/acme-logistics", "Route/customers"),
        ("Consumer/mobile-app", "Route/customers"),
    ]
    route = result.lifecycle[0]
    assert (route.what, route.state, route.sunset, route.days_left, route.successor) == (
        "Api/customers-v1",
        Lifecycle.DEPRECATED,
        date(2027, 6, 30),
        220,
        "Api/customers-v2",
    )
    assert lifecycle_messages(RETAIL) == [
        "gateway/consumers.yaml:10:12: warning: Consumer/acme-logistics is bound to "
        "Api/customers-v1 through Route/customers, deprecated: sunset 2027-06-30 "
        "(220 days left); move to Api/customers-v2",
        "gateway/consumers.yaml:22:12: warning: Consumer/mobile-app is bound to "
        "Api/customers-v1 through Route/customers, deprecated: sunset 2027-06-30 "
        "(220 days left); move to Api/customers-v2",
        "gateway/routes.yaml:11:8: warning: Route/customers is bound to Api/customers-v1, "
        "deprecated: sunset 2027-06-30 (220 days left); move to Api/customers-v2",
    ]
    assert result.ok


@pytest.mark.parametrize(
    ("today", "severity", "code", "when"),
    [
        (date(2027, 6, 29), "warning", "LIFECYCLE_DEPRECATED", "1 day left"),
        (date(2027, 6, 30), "error", "LIFECYCLE_SUNSET_PASSED", "today"),
        (date(2027, 7, 2), "error", "LIFECYCLE_SUNSET_PASSED", "passed 2 days ago"),
    ],
)
def test_the_sunset_date_turns_warnings_into_errors(
    today: date, severity: str, code: str, when: str
) -> None:
    result = check_estate(RETAIL, today=today)
    route = next(f for f in result.findings if f.subject == "Route/customers")
    assert (route.severity, route.code) == (severity, code)
    assert f"sunset 2027-06-30 ({when})" in route.message
    assert result.ok is (severity == "warning")


def test_a_retired_api_is_an_error_whatever_the_date(retail: Path) -> None:
    edit(retail / APIS, V1_LIFECYCLE, "  lifecycle: retired\n  successor: customers-v2\n")
    assert lifecycle_messages(retail, date(2020, 1, 1))[-1] == (
        "gateway/routes.yaml:11:8: error: Route/customers is bound to Api/customers-v1, retired; "
        "move to Api/customers-v2"
    )
    assert not check_estate(retail, today=date(2020, 1, 1)).ok


def test_a_deprecation_without_a_date_stays_a_warning(retail: Path) -> None:
    edit(retail / APIS, V1_LIFECYCLE, "  lifecycle: deprecated\n")
    result = check_estate(retail, today=TODAY)
    route = next(b for b in result.lifecycle if b.who == "Route/customers")
    assert (route.sunset, route.days_left, route.successor) == (None, None, None)
    assert route.message == "Route/customers is bound to Api/customers-v1, deprecated"
    assert route.severity == "warning"
    # Saying what is missing is the declaration's job, not the binding's.
    assert "DEPRECATION_INCOMPLETE" in {f.code for f in result.findings}


def test_an_active_api_has_no_bindings(retail: Path) -> None:
    edit(retail / APIS, V1_LIFECYCLE, "")
    assert check_estate(retail, today=TODAY).lifecycle == []


def test_consumers_are_bound_only_through_the_scopes_a_route_requires(retail: Path) -> None:
    consumers = retail / "gateway/consumers.yaml"
    edit(consumers, "  plan: mobile\n  scopes: [customers:read]", "  plan: mobile\n  scopes: []")
    result = check_estate(retail, today=TODAY)
    assert [b.who for b in result.lifecycle] == ["Route/customers", "Consumer/acme-logistics"]
    edit(
        retail / "gateway/routes.yaml",
        "    scopes: [customers:read]\n  group: customers\n  "
        "validation: {request: enforce, response: record}\n  resilience:",
        "  group: customers\n  validation: {request: enforce, response: record}\n  resilience:",
    )
    # A route that requires no scope would admit every consumer: only the route is reported.
    assert [b.who for b in check_estate(retail, today=TODAY).lifecycle] == ["Route/customers"]


def test_a_successor_reference_is_not_a_binding(retail: Path) -> None:
    edit(retail / APIS, V1_LIFECYCLE, "  successor: customers-v2\n")
    edit(
        retail / APIS, "  version: 2\n  lifecycle: active", "  version: 2\n  lifecycle: deprecated"
    )
    whos = [b.who for b in check_estate(retail, today=TODAY).lifecycle]
    assert "Api/customers-v1" not in whos
    assert whos == ["Route/customers-v2", "Consumer/acme-logistics", "Consumer/mobile-app"]


def test_a_deprecated_event_binds_its_publishers_and_subscribers(retail: Path) -> None:
    edit(
        retail / EVENT,
        "  dedupWindow: 10m",
        "  dedupWindow: 10m\n  lifecycle: deprecated\n  sunset: 2027-01-31",
    )
    result = check_estate(retail, today=TODAY)
    bound = {(b.who, b.via) for b in result.lifecycle if b.target.startswith("Event/")}
    assert bound == {
        ("Subscription/logistics-address-updates", None),
        ("Subscription/analytics-address-updates", None),
        ("Subscription/erp-address-sync", None),  # which feeds Flow/address-sync
        ("Route/address-changes", None),  # publishes it
        ("Consumer/crm-publisher", "Route/address-changes"),
        ("Monitor/address-updates-fresh", None),  # watches it
        ("DataProduct/customer-360", None),  # refreshed on it
    }
    assert all(b.days_left == 70 and b.version is None for b in result.lifecycle[:7])


def test_subscribers_are_bound_to_deprecated_schema_versions(retail: Path) -> None:
    edit(retail / EVENT, SCHEMA_V1, SCHEMA_V1[:-1] + ", lifecycle: deprecated}")
    result = check_estate(retail, today=TODAY)
    versioned = [b for b in result.lifecycle if b.version is not None]
    assert sorted(b.who for b in versioned) == [
        "Subscription/analytics-address-updates",
        "Subscription/erp-address-sync",
        "Subscription/logistics-address-updates",
    ]  # the publishing route chooses what it sends: it is not bound to v1
    first = next(b for b in versioned if b.who == "Subscription/logistics-address-updates")
    assert first.message == (
        "Subscription/logistics-address-updates is bound to Event/customer.address-updated v1, "
        "deprecated; move to Event/customer.address-updated v2"
    )
    assert first.severity == "warning"
    assert first.location.render(result.estate.root) == "events/subscriptions.yaml:8:10"


def test_a_retired_schema_version_binds_nobody(retail: Path) -> None:
    edit(retail / EVENT, SCHEMA_V1, SCHEMA_V1[:-1] + ", lifecycle: retired}")
    assert [b for b in check_estate(retail, today=TODAY).lifecycle if b.version] == []


def test_the_rule_is_listed() -> None:
    assert "LIFECYCLE" in [rule.code for rule in RULES]


# --- the check command ----------------------------------------------------------------------


def run_check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(check_command, [str(RETAIL), "--date", "2026-11-22", *args])
    return result.exit_code, result.stdout


def test_the_text_table_follows_the_findings() -> None:
    code, out = run_check("--lifecycle")
    assert code == 0
    lines = out.splitlines()
    table = lines[lines.index("Lifecycle") :]
    assert table == [
        "Lifecycle",
        "  who                      bound to          via              state       sunset      "
        "days left  successor",
        "  Route/customers          Api/customers-v1  -                deprecated  2027-06-30  "
        "      220  Api/customers-v2",
        "  Consumer/acme-logistics  Api/customers-v1  Route/customers  deprecated  2027-06-30  "
        "      220  Api/customers-v2",
        "  Consumer/mobile-app      Api/customers-v1  Route/customers  deprecated  2027-06-30  "
        "      220  Api/customers-v2",
    ]
    assert "53 objects in 23 files: 0 errors, 4 warnings" in lines
    assert "Lifecycle" not in run_check()[1]


def test_json_lists_the_bindings() -> None:
    code, out = run_check("--format", "json")
    assert code == 0
    body = json.loads(out)
    assert body["lifecycle"][0] == {
        "who": "Route/customers",
        "what": "Api/customers-v1",
        "target": "Api/customers-v1",
        "version": None,
        "via": None,
        "state": "deprecated",
        "sunset": "2027-06-30",
        "days_left": 220,
        "successor": "Api/customers-v2",
        "severity": "warning",
        "code": "LIFECYCLE_DEPRECATED",
        "file": "gateway/routes.yaml",
        "line": 11,
        "col": 8,
    }
    assert len(body["lifecycle"]) == 3


def test_markdown_has_a_lifecycle_table_and_past_sunsets_fail() -> None:
    result = CliRunner().invoke(
        check_command, [str(RETAIL), "--date", "2027-07-01", "--format", "markdown", "--lifecycle"]
    )
    assert result.exit_code == 1
    out = result.stdout
    assert "#### Lifecycle" in out
    assert "| who | bound to | via | state | sunset | days left | successor |" in out
    assert (
        "| Route/customers | Api/customers-v1 | - | deprecated | 2027-06-30 | -1 | "
        "Api/customers-v2 |"
    ) in out
    assert "53 objects: 3 errors, 1 warning" in out


def test_an_estate_without_bindings_says_so(retail: Path) -> None:
    edit(retail / APIS, V1_LIFECYCLE, "")
    result = CliRunner().invoke(check_command, [str(retail), "--lifecycle"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == (
        "Lifecycle: nothing is bound to a deprecated or retired version"
    )


def test_a_passed_sunset_fails_check_but_not_the_runtime(retail: Path) -> None:
    edit(retail / APIS, "sunset: 2027-06-30", "sunset: 2020-01-31")
    assert not check_estate(retail).ok
    snapshot = compile_snapshot(retail)
    assert {f.code for f in snapshot.findings} == {"LIFECYCLE_SUNSET_PASSED", "NOT_RUN"}
    assert CliRunner().invoke(graph_command, [str(retail)]).exit_code == 0


def test_a_retired_api_still_stops_the_runtime(retail: Path) -> None:
    edit(retail / APIS, V1_LIFECYCLE, "  lifecycle: retired\n")
    with pytest.raises(EstateLoadError):
        compile_snapshot(retail)
