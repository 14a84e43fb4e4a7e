"""Monitors on a node: the retail example's four, evaluated over signals in its SQLite store,
told to a sink, kept in the store, and listed by the admin API and the CLI."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from interlink.admin.app import create_app
from interlink.alerts import Alerts
from interlink.cli.main import cli
from interlink.estate.kinds.data import Monitor, TargetRef
from interlink.observe.metrics import Registry
from interlink.observe.signals import SignalSaver, SignalTable
from interlink.observe.targets import signal_keys
from interlink.observe.verdicts import Verdict
from interlink.runtime.monitors import SHARDS, MonitorRunner, shard_of
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store import Bucket, SignalRow
from interlink.store.signals import LATENCY_BOUNDS, MINUTE

NOW = 1_767_600_000.0  # 2026-01-05 08:00 UTC


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Sink:
    def __init__(self) -> None:
        self.heard: list[Verdict] = []

    async def verdicts(self, verdicts: Sequence[Verdict]) -> None:
        self.heard.extend(verdicts)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def runtime(retail_dir: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(ServeSettings(retail_dir))
    yield runtime
    runtime.close()


def failing_route(runtime: Runtime) -> None:
    """Two hours of requests through Route/customers, 10% failing, all within 100 ms."""
    histogram = [0] * len(LATENCY_BOUNDS)
    histogram[LATENCY_BOUNDS.index(0.1)] = 100
    runtime.store.signals.record(
        SignalRow("Route", "customers", MINUTE, int(NOW) - i * MINUTE, b)
        for i in range(120)
        for b in [Bucket(100, 10, 5.0, list(histogram), NOW - i * MINUTE)]
    )


@pytest.mark.anyio
async def test_each_monitor_is_evaluated_told_and_kept(runtime: Runtime) -> None:
    failing_route(runtime)
    clock, sink, metrics = Clock(), Sink(), Registry()
    estate = runtime.snapshot.estate
    runner = MonitorRunner(runtime.store, lambda: estate, metrics, sink=sink, clock=clock)
    verdicts = {v.monitor: v for v in await runner.evaluate()}
    assert sorted(verdicts) == [
        "address-sync-runs",
        "address-updates-fresh",
        "address-updates-volume",
        "addresses-fresh",
        "customer-360-refreshes",
        "customers-availability",
        "customers-latency",
    ]
    assert [v.monitor for v in sink.heard] == list(verdicts)
    assert not verdicts["customer-360-refreshes"].firing  # no refresh seen yet
    assert verdicts["customers-availability"].firing  # 10% failing against 99.9%
    assert verdicts["customers-availability"].facts["error_ratio"] == pytest.approx(0.1)
    assert not verdicts["customers-latency"].firing  # all within 300 ms
    assert not verdicts["addresses-fresh"].firing  # never seen, but only just watched
    assert verdicts["address-updates-volume"].facts["expected"] is None  # no history yet
    states = {s.monitor: s for s in runtime.store.monitor_states.list()}
    assert states["customers-availability"].firing
    assert states["customers-availability"].facts == dict(verdicts["customers-availability"].facts)
    text = metrics.render()
    assert 'interlink_monitor_firing{monitor="customers-availability",type="slo"} 1' in text
    assert 'interlink_monitor_firing{monitor="customers-latency",type="slo"} 0' in text
    # Two hours on, nothing refreshed the product: its freshness monitor fires.
    clock.now += 2 * 3600 + 1
    later = {v.monitor: v for v in await runner.evaluate()}
    assert later["addresses-fresh"].firing
    assert later["addresses-fresh"].facts["signal"] == "refreshed"


@pytest.mark.anyio
async def test_a_subscription_gone_quiet_against_weeks_of_history_is_an_anomaly(
    runtime: Runtime,
) -> None:
    name, hour = "logistics-address-updates", 3600
    steady = [
        SignalRow("Subscription", name, hour, int(NOW) - h * hour, Bucket(600, 0, 6.0))
        for h in range(49, 21 * 24)
    ]
    # The last two days in minutes, ten deliveries each, but none in the last 20 minutes.
    recent = [
        SignalRow("Subscription", name, MINUTE, int(NOW) - m * MINUTE, Bucket(10, 0, 0.1))
        for m in range(21, 48 * 60)
    ]
    runtime.store.signals.record(steady + recent)
    clock = Clock()
    clock.now = NOW + 40  # the interval that ended at NOW is written out by now
    estate = runtime.snapshot.estate
    runner = MonitorRunner(runtime.store, lambda: estate, Registry(), clock=clock)
    verdict = {v.monitor: v for v in await runner.evaluate()}["address-updates-volume"]
    assert verdict.firing
    assert verdict.facts["direction"] == "down"
    assert verdict.facts["observed"] == 0.0
    assert verdict.facts["expected"] == pytest.approx(100.0)
    # Deliveries again: quiet.
    runtime.store.signals.record(
        SignalRow("Subscription", name, MINUTE, int(NOW) + m * MINUTE, Bucket(10, 0, 0.1))
        for m in range(20)
    )
    clock.now = NOW + 1200 + 40
    again = {v.monitor: v for v in await runner.evaluate()}["address-updates-volume"]
    assert not again.firing


@pytest.mark.anyio
async def test_signals_recorded_in_memory_reach_the_store_and_the_monitors(
    runtime: Runtime,
) -> None:
    clock = Clock()
    table = SignalTable(clock=clock)
    table.record("DataProduct", "customer-addresses", True)
    table.record("Subscription", "logistics-address-updates", False, 0.2)
    table.record("Subscription", "logistics-address-updates", True, 0.004)
    saver = SignalSaver(runtime.store, table)
    assert await saver.flush() == 2
    assert table.buckets == {}
    rows = {(r.kind, r.name): r.bucket for r in runtime.store.signals.rows()}
    delivered = rows["Subscription", "logistics-address-updates"]
    assert (delivered.count, delivered.errors, delivered.last_seen) == (2, 1, NOW)
    assert delivered.within(0.005) == 1
    estate = runtime.snapshot.estate
    runner = MonitorRunner(runtime.store, lambda: estate, Registry(), clock=clock)
    clock.now += 2 * 3600 + 1
    fresh = {v.monitor: v for v in await runner.evaluate()}["addresses-fresh"]
    assert fresh.firing
    assert fresh.facts["age_seconds"] == 2 * 3600 + 1
    assert fresh.facts["last_seen"] == "2026-01-05T08:00:00+00:00"


def test_a_full_table_drops_and_counts_what_did_not_fit() -> None:
    table = SignalTable(limit=1, clock=Clock())
    table.record("Flow", "a", True)
    table.record("Flow", "b", True)
    assert table.dropped == 1
    taken = table.take()
    table.restore(taken)
    table.restore(taken)  # the same minute again: added, not a new entry
    assert table.buckets[int(NOW), "Flow", "a"].count == 2


def test_targets_sum_their_parts_and_monitors_spread_over_the_shards(runtime: Runtime) -> None:
    estate = runtime.snapshot.estate
    api = signal_keys(estate, TargetRef(kind="Api", name="customers-v2"))
    assert api
    assert all(kind == "Route" for kind, _ in api)
    crm = signal_keys(estate, TargetRef(kind="System", name="crm"))
    assert crm[0] == ("System", "crm")
    assert ("Event", "customer.address-updated") in crm
    names = [f"monitor-{i}" for i in range(1000)]
    counts = [sum(shard_of(n) == s for n in names) for s in range(SHARDS)]
    assert min(counts) > 1000 / SHARDS / 2
    assert all(isinstance(m, Monitor) for m in estate.of(Monitor))


def test_the_admin_api_and_the_cli_list_the_monitors(runtime: Runtime, retail_dir: Path) -> None:
    with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    client = TestClient(create_app(runtime))
    viewer, _ = runtime.store.tokens.create("viewer", "dashboard")
    assert client.get("/api/v1/monitors").status_code == 401
    pending = client.get("/api/v1/monitors", headers={"Authorization": f"Bearer {viewer}"})
    assert pending.status_code == 200
    first = pending.json()["monitors"][0]
    assert first == {
        "name": "address-sync-runs",
        "type": "slo",
        "target": {"kind": "Flow", "name": "address-sync"},
        "severity": "critical",
        "state": "pending",
        "evaluatedAt": None,
        "facts": {},
    }
    failing_route(runtime)
    import asyncio

    estate = runtime.snapshot.estate
    asyncio.run(MonitorRunner(runtime.store, lambda: estate, Registry(), clock=Clock()).evaluate())
    listed = client.get("/api/v1/monitors", headers={"Authorization": f"Bearer {viewer}"}).json()
    availability = next(m for m in listed["monitors"] if m["name"] == "customers-availability")
    assert availability["state"] == "firing"
    assert availability["evaluatedAt"].startswith("2026-01-05T08:00:00")
    assert availability["facts"]["long_window_seconds"] == 3360
    text = CliRunner().invoke(cli, ["monitors", "list", "--estate", str(retail_dir)])
    assert text.exit_code == 0, text.output
    assert (
        "customers-availability  firing  slo on Route/customers  (2026-01-05T08:00:00+00:00)"
        in text.output.splitlines()
    )
    as_json = CliRunner().invoke(
        cli, ["monitors", "list", "--estate", str(retail_dir), "--format", "json"]
    )
    documents = json.loads(as_json.output)["monitors"]
    assert [d["state"] for d in documents].count("firing") == 1


@pytest.mark.anyio
async def test_the_alerts_book_and_word_the_verdicts(runtime: Runtime) -> None:
    failing_route(runtime)
    estate = runtime.snapshot.estate
    alerts = Alerts(runtime.store, lambda: estate)
    runner = MonitorRunner(runtime.store, lambda: estate, Registry(), sink=alerts, clock=Clock())
    await runner.evaluate()
    firing = runtime.store.alerts.firing("customers-availability")
    assert firing is not None
    assert firing.target == "Route/customers"
    assert firing.summary  # worded from the estate and the verdict's facts
    assert runtime.store.alerts.firing("customers-latency") is None


@pytest.mark.anyio
async def test_the_demo_monitors_fire_within_minutes(runtime: Runtime) -> None:
    """What `interlink demo` shows: the CRM quiet for three minutes, and Flow/address-sync
    failing half its runs for three minutes, each an alert in plain words."""
    last = Bucket(5, 0, 0.0, [0] * len(LATENCY_BOUNDS), NOW - 180)
    runtime.store.signals.record(
        [SignalRow("Event", "customer.address-updated", MINUTE, int(NOW) - 240, last)]
        + [
            SignalRow("Flow", "address-sync", MINUTE, int(NOW) - m * MINUTE, Bucket(10, 5, 1.0))
            for m in range(3)
        ]
    )
    estate = runtime.snapshot.estate
    alerts = Alerts(runtime.store, lambda: estate)
    runner = MonitorRunner(runtime.store, lambda: estate, Registry(), sink=alerts, clock=Clock())
    await runner.evaluate()
    quiet = runtime.store.alerts.firing("address-updates-fresh")
    assert quiet is not None
    assert quiet.summary.startswith(
        "The CRM has not sent any customer.address-updated events for 3 minutes"
    )
    assert quiet.summary.endswith("Owner: Sales.")
    burning = runtime.store.alerts.firing("address-sync-runs")
    assert burning is not None
    assert burning.facts["long_window_seconds"] == 120  # a one-day window: minutes, not hours
    assert burning.summary.startswith("The address-sync flow is failing 50%")
    assert burning.summary.endswith("Owner: Finance.")
