"""Observed connections in the store, on SQLite and PostgreSQL (``store_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from interlink.store import ObservedConnection, ObservedLink, Store, open_store

HOUR = datetime(2025, 3, 14, 9, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as store:
        store.migrate()
        yield store


def row(
    hour: datetime, consumer: str, count: int, route: str = "orders", errors: int = 0
) -> ObservedConnection:
    return ObservedConnection(hour, consumer, route, "erp", count, errors)


def test_counts_add_up_per_hour_consumer_route_and_system(store: Store) -> None:
    store.connections.record([row(HOUR, "shop", 3, errors=1), row(HOUR, "", 1)])
    store.connections.record(
        [
            row(HOUR + timedelta(minutes=42), "shop", 4, errors=2),  # the same hour
            row(HOUR + timedelta(hours=1), "shop", 2),
            row(HOUR, "shop", 5, route="customers"),
        ]
    )
    store.connections.record([])
    got = store.connections.list()
    assert [(r.hour, r.consumer, r.route, r.system, r.count, r.errors) for r in got] == [
        (HOUR, "", "orders", "erp", 1, 0),
        (HOUR, "shop", "customers", "erp", 5, 0),
        (HOUR, "shop", "orders", "erp", 7, 3),  # requests, and those answered with a 5xx
        (HOUR + timedelta(hours=1), "shop", "orders", "erp", 2, 0),
    ]
    assert all(r.hour.utcoffset() == timedelta(0) for r in got)


def test_since_selects_from_its_hour_on(store: Store) -> None:
    store.connections.record([row(HOUR - timedelta(hours=h), "shop", h + 1) for h in range(4)])
    since = HOUR - timedelta(hours=1, minutes=-30)  # inside the hour before HOUR
    assert [r.count for r in store.connections.list(since)] == [2, 1]
    local = since.astimezone(timezone(timedelta(hours=5)))
    assert [r.count for r in store.connections.list(local)] == [2, 1]
    assert store.connections.list(HOUR + timedelta(hours=1)) == []


def test_links_add_up_per_hour_kind_source_target_and_via(store: Store) -> None:
    event = "Event/customer.address-updated"
    store.links.record(
        [
            ObservedLink(HOUR, "publish", "Consumer/crm", event, "events", 3, 1),
            ObservedLink(HOUR, "deliver", "Subscription/erp", "", event, 2, 2, 1),
        ]
    )
    store.links.record(
        [
            ObservedLink(
                HOUR + timedelta(minutes=5), "publish", "Consumer/crm", event, "events", 4
            ),
            ObservedLink(HOUR, "deliver", "Subscription/erp", "", event, 1, 1, 1),
            ObservedLink(HOUR + timedelta(hours=1), "trigger", "schedule", "Flow/f", "schedule", 1),
        ]
    )
    got = store.links.list()
    assert [(r.hour, r.kind, r.source, r.count, r.errors, r.dead) for r in got] == [
        (HOUR, "deliver", "Subscription/erp", 3, 3, 2),
        (HOUR, "publish", "Consumer/crm", 7, 1, 0),
        (HOUR + timedelta(hours=1), "trigger", "schedule", 1, 0, 0),
    ]
    assert [r.kind for r in store.links.list(HOUR + timedelta(minutes=30))] == [
        "deliver",
        "publish",
        "trigger",
    ]
    assert [r.kind for r in store.links.list(HOUR + timedelta(hours=1))] == ["trigger"]
