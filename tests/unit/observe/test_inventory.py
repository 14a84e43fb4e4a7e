"""The inventory over the retail example and synthetic observations in a SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlink.cli.estate import write_example
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate
from interlink.observe.inventory import (
    Connection,
    Inventory,
    declared,
    read_inventory,
    step_targets,
    trigger_link,
)
from interlink.observe.inventory_metrics import InventoryGauges
from interlink.observe.links import LinkCounts, LinkFlusher, link_rows
from interlink.observe.metrics import Registry
from interlink.store import ObservedCall, ObservedConnection, ObservedLink, Store, open_store

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
SINCE = NOW - timedelta(days=7)
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    root = tmp_path_factory.mktemp("retail") / "estate"
    write_example("retail", root)
    found, findings = load_estate(root)
    assert not [f for f in findings if f.severity == "error"]
    return found


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate()
        yield store


def one(inv: Inventory, kind: str, source: str, target: str, via: str) -> Connection:
    (found,) = [c for c in inv.connections if c.key == (kind, source, target, via)]
    return found


def test_declared_connections_say_how_with_contracts_failure_handling_and_owner(
    estate: Estate,
) -> None:
    rows = {c.key: c for c in declared(estate)}
    request = rows[("request", "Consumer/acme-logistics", "System/crm", "Route/customers")]
    assert request.contracts == ["Api/customers-v1 v1 (deprecated)"]
    assert request.formats == ["application/json"]
    assert request.failure == "retries 2, timeout 5s, circuit breaker after 5 failures"
    assert request.owner == "sales"
    delivery = rows[
        (
            "deliver",
            "Subscription/logistics-address-updates",
            "System/logistics",
            "Event/customer.address-updated",
        )
    ]
    assert delivery.owner == "logistics"
    assert delivery.failure == "retries 7, dead-letter queue"
    assert delivery.contracts == ["Event/customer.address-updated v1, v2"]
    saga = rows[("call", "Flow/order-saga", "System/billing", "charge-payment")]
    assert saga.failure == "retries 3, compensate POST System/billing"
    assert saga.owner == "sales"
    assert rows[("trigger", "Route/orders", "Flow/order-saga", "route")].declared
    # The Route publishing admits any caller holding its scope; the Event's System, none of
    # whose Consumers holds the scope, publishes order.confirmed.
    assert ("publish", "Route/address-changes", "Event/customer.address-updated", "route") in rows
    assert ("publish", "System/webshop", "Event/order.confirmed", "events") in rows
    assert all(c.declared and c.count == 0 for c in rows.values())


def test_observations_merge_into_declared_rows_and_flag_the_rest(
    estate: Estate, store: Store
) -> None:
    noon = NOW - 2 * H
    store.connections.record(
        [
            ObservedConnection(noon, "acme-logistics", "customers", "crm", 30, 3),
            ObservedConnection(noon - 24 * H, "acme-logistics", "customers", "crm", 10),
            ObservedConnection(noon - 30 * 24 * H, "acme-logistics", "customers", "crm", 99),
            ObservedConnection(noon, "acme-logistics", "legacy-export", "crm-legacy", 4),
        ]
    )
    store.connector_calls.record(
        [ObservedCall(noon, "order-saga", "erp", "write", "write", 3, 3, 1)]
    )
    store.links.record(
        [
            ObservedLink(noon, "publish", "Consumer/crm-publisher",
                         "Event/customer.address-updated", "events", 8, 2),
            ObservedLink(noon, "publish", "", "Event/order.placed", "events", 1),
            ObservedLink(noon, "publish", "Consumer/crm-publisher",
                         "Event/customer.address-updated", "route", 2),
            ObservedLink(noon, "deliver", "Subscription/logistics-address-updates", "",
                         "Event/customer.address-updated", 7, 1, 1),
            ObservedLink(noon, "trigger", "", "Flow/order-saga", "route", 5),
            ObservedLink(noon, "trigger", "api", "Flow/address-sync", "api", 1),
            ObservedLink(noon, "publish", "Flow/order-saga", "Event/order.confirmed",
                         "announce", 5),
        ]
    )  # fmt: skip
    inv = read_inventory(estate, store, SINCE, NOW)

    request = one(inv, "request", "Consumer/acme-logistics", "System/crm", "Route/customers")
    assert (request.count, request.declared, request.undeclared) == (40, True, False)
    assert request.first_seen == noon - 30 * 24 * H  # all that is stored; counts: the window
    assert request.last_seen == noon
    assert request.peak == 30
    assert request.busiest_hours == [noon.hour]
    assert request.per_hour == pytest.approx(40 / (7 * 24))
    assert request.errors == 3  # answered with a 5xx
    assert request.error_rate == pytest.approx(3 / 40)

    stray = one(
        inv, "request", "Consumer/acme-logistics", "System/crm-legacy", "Route/legacy-export"
    )
    assert stray.undeclared
    assert not stray.declared
    assert stray.owner == "logistics"  # the caller's team, as nothing declares it

    published = one(
        inv, "publish", "Consumer/crm-publisher", "Event/customer.address-updated", "events"
    )
    assert published.error_rate == 0.25
    by_route = one(
        inv, "publish", "Consumer/crm-publisher", "Event/customer.address-updated", "route"
    )
    assert by_route.declared
    assert by_route.covered_by == "Route/address-changes"
    keys = {c.key for c in inv.connections}
    assert (
        "publish",
        "Route/address-changes",
        "Event/customer.address-updated",
        "route",
    ) not in keys
    operator = one(inv, "publish", "", "Event/order.placed", "events")
    assert operator.undeclared  # an operator's token publishing: nothing declares it

    delivered = one(
        inv,
        "deliver",
        "Subscription/logistics-address-updates",
        "System/logistics",
        "Event/customer.address-updated",
    )
    assert (delivered.count, delivered.errors, delivered.dead) == (7, 1, 1)
    routed = one(inv, "trigger", "Route/orders", "Flow/order-saga", "route")
    assert routed.count == 5  # the run named no route: the one declared
    by_hand = one(inv, "trigger", "api", "Flow/address-sync", "api")
    assert by_hand.declared
    assert not by_hand.undeclared

    confirmed = one(inv, "publish", "Flow/order-saga", "Event/order.confirmed", "announce")
    assert confirmed.declared
    assert confirmed.unsubscribed
    assert confirmed.undeclared

    connector = one(inv, "connector", "Flow/order-saga", "System/erp", "")
    assert connector.undeclared
    assert connector.operations == {"write"}
    assert connector.error_rate == pytest.approx(1 / 3)

    unused = inv.filtered(unused=True)
    assert unused
    assert all(c.unused and c.count == 0 for c in unused)
    flagged = inv.filtered(undeclared=True)
    assert {c.key for c in flagged} >= {stray.key, operator.key, connector.key, confirmed.key}
    summary = inv.summary()
    assert summary["declared"] == inv.declared_count
    assert summary["observedDeclaredRatio"] == pytest.approx(  # kept to six decimals
        inv.observed_count / inv.declared_count, abs=1e-6
    )
    assert inv.filtered(kind="deliver")
    assert all(c.kind == "deliver" for c in inv.filtered(kind="deliver"))


def test_trigger_strings_name_their_source_when_they_can() -> None:
    assert trigger_link("event:erp-address-sync:e-1") == ("Subscription/erp-address-sync", "event")
    assert trigger_link("poll:orders:42") == ("", "poll")
    assert trigger_link("consume:queue:9") == ("", "consume")
    assert trigger_link("schedule") == ("schedule", "schedule")
    assert trigger_link("http") == ("", "route")
    assert trigger_link("flow:1234") == ("", "flow")
    assert trigger_link("api") == ("api", "api")


def test_step_targets_are_what_the_flow_runner_counts(estate: Estate) -> None:
    targets = step_targets(estate)
    assert targets[("order-saga", "charge-payment", "forward")] == ("call", "System/billing")
    assert targets[("order-saga", "announce", "forward")] == ("publish", "Event/order.confirmed")
    assert all(kind != "connector" for kind, _ in targets.values())


def test_link_counts_add_per_hour_and_key_and_keep_what_a_write_lost() -> None:
    clock = [NOW.timestamp()]
    counts = LinkCounts(limit=2, clock=lambda: clock[0])
    counts.add("publish", "Consumer/a", "Event/x", "events")
    counts.add("publish", "Consumer/a", "Event/x", "events", failed=True)
    counts.add("deliver", "Subscription/s", "", "Event/x", failed=True, dead=True)
    counts.add("call", "Flow/f", "System/s", "step")  # a third key: over the limit
    assert counts.dropped == 1
    taken = counts.take()
    assert counts.counts == {}
    rows = sorted(link_rows(taken), key=lambda r: r.kind)
    assert [(r.kind, r.count, r.errors, r.dead) for r in rows] == [
        ("deliver", 1, 1, 1),
        ("publish", 2, 1, 0),
    ]
    assert rows[0].hour == NOW
    counts.dropped = 0
    counts.restore(taken)
    counts.restore(taken)
    assert sorted(counts.counts.values()) == [[2, 2, 2], [4, 2, 0]]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_flusher_writes_the_counts_and_adds_them_up(store: Store) -> None:
    counts = LinkCounts()
    flusher = LinkFlusher(counts, store, interval=3600)
    counts.add("trigger", "schedule", "Flow/f", "schedule", at=NOW.timestamp())
    assert await flusher.flush() == 1
    counts.add("trigger", "schedule", "Flow/f", "schedule", count=2, at=NOW.timestamp())
    await flusher.stop()  # the last flush
    (row,) = store.links.list()
    assert (row.hour, row.kind, row.count) == (NOW, "trigger", 3)


def test_the_gauges_say_the_ratio(estate: Estate, store: Store) -> None:
    registry = Registry()
    gauges = InventoryGauges(registry, store, lambda: estate)
    store.links.record([ObservedLink(NOW - H, "trigger", "", "Flow/order-saga", "route", 5)])
    inv = gauges.update(NOW)
    text = registry.render()
    assert f'interlink_inventory_connections{{state="declared"}} {inv.declared_count}' in text
    assert 'interlink_inventory_connections{state="observed"} 1' in text
    ratio = 1 / inv.declared_count
    assert f"interlink_inventory_observed_declared_ratio {ratio}" in text
