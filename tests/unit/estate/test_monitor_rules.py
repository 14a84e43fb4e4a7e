"""`check` on Monitors: what a target does not record cannot be watched."""

from __future__ import annotations

from pathlib import Path

from interlink.estate import monitor_rules
from interlink.estate.check import check_estate
from interlink.store import signals

BASE = (
    "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: ops}\n---\n"
    "apiVersion: interlink/v1\nkind: System\nmetadata: {name: crm, owner: ops}\n"
    "spec: {domain: sales}\n---\n"
    "apiVersion: interlink/v1\nkind: Event\nmetadata: {name: order.placed, owner: ops}\n"
    "spec: {system: crm, schemas: [{version: 1, file: order.json}]}\n---\n"
)


def findings(tmp_path: Path, spec: str) -> list[str]:
    (tmp_path / "order.json").write_text('{"type": "object"}')
    (tmp_path / "estate.yaml").write_text(
        BASE + "apiVersion: interlink/v1\nkind: Monitor\nmetadata: {name: m, owner: ops}\n"
        f"spec:\n{spec}"
    )
    result = check_estate(tmp_path)
    return [f.render(result.estate.root) for f in result.findings if f.code == "MONITOR_SIGNAL"]


def test_an_events_latency_and_failures_cannot_be_watched(tmp_path: Path) -> None:
    target = "  target: {kind: Event, name: order.placed}\n"
    assert findings(tmp_path, target + "  type: anomaly\n  anomaly: {metric: latency}\n") == [
        "estate.yaml:21:21: error: Monitor/m watches the latency of Event/order.placed, which "
        "has none: an Event's publishes have no latency and do not fail once accepted (watch "
        "the Route or Subscriptions that carry it)"
    ]
    slo = findings(tmp_path, target + "  type: slo\n  slo: {objective: 99}\n")
    assert len(slo) == 1
    assert "watches the failures of Event/order.placed" in slo[0]
    assert findings(tmp_path, target + "  type: freshness\n  freshness: {maxAge: 1h}\n") == []
    assert findings(tmp_path, target + "  type: anomaly\n  anomaly: {metric: volume}\n") == []


def test_an_slo_window_past_the_signals_kept_and_an_odd_threshold(tmp_path: Path) -> None:
    target = "  target: {kind: System, name: crm}\n  type: slo\n"
    long = findings(tmp_path, target + "  slo: {objective: 99, window: 6w}\n")
    assert long == [
        "estate.yaml:21:32: error: Monitor/m: an SLO window of 6w is longer than the 35 days "
        "of signals kept"
    ]
    odd = "  slo: {objective: 99, indicator: latency, latencyThreshold: 350ms}\n"
    (warning,) = findings(tmp_path, target + odd)
    assert warning.endswith("a threshold of 350ms is counted at 300ms, the bound below it")
    exact = "  slo: {objective: 99, indicator: latency, latencyThreshold: 300ms}\n"
    assert findings(tmp_path, target + exact) == []


def test_the_rule_knows_what_the_store_keeps() -> None:
    assert monitor_rules.LATENCY_BOUNDS == signals.LATENCY_BOUNDS
    assert monitor_rules.SIGNALS_KEPT_DAYS * 86400 == signals.HOURS_KEPT
