"""What the estate accepts but nothing runs yet: `check` says so, in warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.estate import not_yet
from interlink.estate.check import check_estate
from interlink.estate.not_yet import NO_EFFECT, not_run_line
from tests.unit.estate.helpers import RETAIL, TODAY, edit


def _messages(root: Path, code: str) -> list[str]:
    result = check_estate(root, today=TODAY)
    return [f.render(result.estate.root) for f in result.findings if f.code == code]


MONITOR_UNREFRESHED = (
    "monitors.yaml:22:11: warning: Monitor/addresses-fresh watches "
    "DataProduct/customer-addresses, which is never refreshed (it is virtual, or its source "
    "is not read yet): it sees no refreshes"
)


def test_the_example_product_runs_and_only_its_monitor_is_warned_about() -> None:
    found = [m for m in _messages(RETAIL, "NOT_RUN") if ": step " not in m]
    # The product's http source is read; monitors are evaluated (observe/), and one on a
    # virtual product (never refreshed) sees nothing.
    assert found == [MONITOR_UNREFRESHED]


def test_a_data_product_whose_source_is_not_read_is_a_warning(
    retail: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(not_yet, "PRODUCT_SOURCES_READ", frozenset({"sql", "csv"}))
    found = [m for m in _messages(retail, "NOT_RUN") if "DataProduct/customer-a" in m]
    assert found[0] == (
        "data/customer-addresses.yaml:12:11: warning: DataProduct/customer-addresses is checked "
        "but not run: its http source is not read yet (sources read: csv, sql)"
    )
    edit(
        retail / "data" / "customer-addresses.yaml",
        "    type: http\n    location: /customers/addresses?limit=50\n    records: items\n"
        "    pagination: {style: cursor, param: cursor, next: next}",
        "    type: csv\n    location: addresses.csv\n   ",
    )
    # Read, but still virtual: its freshness monitor would see no refreshes.
    read = [m for m in _messages(retail, "NOT_RUN") if "DataProduct/customer-a" in m]
    assert read == [MONITOR_UNREFRESHED]
    edit(
        retail / "data" / "customer-addresses.yaml",
        "  contract:\n",
        "  mode: materialised\n  contract:\n",
    )
    assert [m for m in _messages(retail, "NOT_RUN") if "DataProduct/customer-a" in m] == []


def test_a_flow_step_the_engine_does_not_run_is_a_warning_at_the_step(
    retail: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    once = (
        "    - {name: once, type: idempotency, key: \"customerId & '/' & changedAt\", window: 7d}"
    )
    edit(
        retail / "flows" / "address-sync.yaml",
        once + "\n",
        once + "\n    - {name: each, type: split, items: address}\n",
    )
    assert not [m for m in _messages(retail, "NOT_RUN") if ": step " in m]  # every kind runs
    # A kind the engine would not run (as split did not, once) is a warning at its type.
    monkeypatch.setattr(not_yet, "FLOW_STEPS_RUN", not_yet.FLOW_STEPS_RUN - {"split"})
    step = "Flow/address-sync: step 'each' (split) is not run yet"
    (found,) = [m for m in _messages(retail, "NOT_RUN") if step in m]
    assert found.startswith(f"flows/address-sync.yaml:12:26: warning: {step}: the flow engine ")


def test_a_field_with_no_effect_yet_is_a_warning_at_the_field(
    retail: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(
        retail / "platform.yaml",
        "  admin:\n",
        "  telemetry: {otlpEndpoint: http://127.0.0.1:4318}\n  admin:\n",
    )
    # Telemetry is read (traces, the /metrics switch): no warning.
    assert _messages(retail, "NO_EFFECT") == []
    # A field listed as having no effect is a warning where it is set.
    entry = not_yet.NoEffect("Platform", ("spec", "telemetry"), "spec.telemetry", "not read")
    monkeypatch.setattr(not_yet, "NO_EFFECT", (entry,))
    assert _messages(retail, "NO_EFFECT") == [
        "platform.yaml:13:3: warning: spec.telemetry has no effect yet: not read"
    ]
    result = check_estate(retail, today=TODAY)
    assert result.ok


def test_a_monitors_freshness_column_has_no_effect(retail: Path) -> None:
    edit(retail / "monitors.yaml", "freshness: {maxAge: 2h}", "freshness: {maxAge: 2h, column: at}")
    assert _messages(retail, "NO_EFFECT") == [
        "monitors.yaml:24:27: warning: spec.freshness.column has no effect yet: a monitor's "
        "freshness is its target's last success; no column is read"
    ]


def test_flow_triggers_start_runs_and_are_no_warning(retail: Path) -> None:
    flow = retail / "flows" / "address-sync.yaml"
    edit(flow, "spec:\n", "spec:\n  trigger: {schedule: '0 3 * * *'}\n")
    (retail / "flows" / "echo.yaml").write_text(
        "apiVersion: interlink/v1\n"
        "kind: Flow\n"
        "metadata: {name: echo, owner: finance}\n"
        "spec:\n"
        "  trigger: {event: customer.address-updated}\n"
        "  steps:\n"
        "    - {name: same, type: map, expression: '$'}\n",
        encoding="utf-8",
    )
    assert _messages(retail, "NO_EFFECT") == []


def test_a_flows_whole_timeout_is_enforced_so_not_warned_about(retail: Path) -> None:
    edit(retail / "flows" / "address-sync.yaml", "spec:\n", "spec:\n  timeout: 10m\n")
    assert _messages(retail, "NO_EFFECT") == []


def test_system_credentials_are_not_listed() -> None:
    assert all(entry.kind != "System" for entry in NO_EFFECT)


def test_serve_names_what_it_does_not_run_in_one_line() -> None:
    result = check_estate(RETAIL, today=TODAY)
    # Every kind runs, at least partly: the product's own warning says what it lacks.
    assert not_run_line(result.estate) is None


def test_nothing_to_say_without_data_products_or_monitors(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(
        "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: t}\n"
    )
    assert not_run_line(check_estate(tmp_path).estate) is None


def test_monitors_are_not_said_not_to_run(tmp_path: Path) -> None:
    (tmp_path / "monitor.yaml").write_text(
        "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: ops}\n---\n"
        "apiVersion: interlink/v1\nkind: System\nmetadata: {name: crm, owner: ops}\n"
        "spec: {domain: sales}\n---\n"
        "apiVersion: interlink/v1\nkind: Monitor\nmetadata: {name: up, owner: ops}\n"
        "spec: {type: anomaly, anomaly: {}, target: {kind: System, name: crm}}\n"
    )
    result = check_estate(tmp_path)
    assert result.ok, [f.render() for f in result.errors]
    assert not_run_line(result.estate) is None


def test_an_enrich_from_a_data_product_is_a_warning_at_its_source(retail: Path) -> None:
    once = (
        "    - {name: once, type: idempotency, key: \"customerId & '/' & changedAt\", window: 7d}"
    )
    edit(
        retail / "flows" / "address-sync.yaml",
        once + "\n",
        once + "\n    - {name: known, type: enrich, from: {dataProduct: customer-addresses}, "
        "into: known}\n",
    )
    (found,) = [m for m in _messages(retail, "NOT_RUN") if "'known'" in m]
    assert found == (
        "flows/address-sync.yaml:12:55: warning: Flow/address-sync: step 'known' enriches from "
        "a DataProduct, which flows do not read yet: only an enrich from an Api runs, and a flow "
        "with this one does not start"
    )
