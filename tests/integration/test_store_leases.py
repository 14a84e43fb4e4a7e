"""Leases in the store, on SQLite and PostgreSQL (``store_url``), on a clock moved by hand."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from interlink.errors import ConfigError
from interlink.store import Store, open_store

START = datetime(2026, 3, 14, 9, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[Store]:
    with open_store(store_url, clock=clock) as store:
        store.migrate()
        yield store


def test_a_free_lease_is_taken_and_a_held_one_refused(store: Store) -> None:
    lease = store.leases.acquire("subscription:a", "node-1", 10)
    assert lease is not None
    assert (lease.owner, lease.token, lease.expires_at) == (
        "node-1",
        1,
        START + timedelta(seconds=10),
    )
    assert store.leases.acquire("subscription:a", "node-2", 10) is None
    # Taken again by its holder: extended, same token.
    again = store.leases.acquire("subscription:a", "node-1", 20)
    assert again is not None
    assert again.token == 1
    assert again.acquired_at == START


def test_an_expired_lease_moves_on_with_a_larger_token(store: Store, clock: Clock) -> None:
    first = store.leases.acquire("reconcile", "node-1", 10)
    assert first is not None
    clock.advance(10)  # expiry is exclusive: at expires_at the lease is free
    second = store.leases.acquire("reconcile", "node-2", 10)
    assert second is not None
    assert second.owner == "node-2"
    assert second.token == 2
    assert store.leases.renew(first, 10) is None  # the old holder cannot extend it
    assert store.leases.release(first) is False  # nor free it
    assert store.leases.list()[0].owner == "node-2"


def test_renewal_extends_only_for_the_holder_with_its_token(store: Store, clock: Clock) -> None:
    lease = store.leases.acquire("a", "node-1", 10)
    assert lease is not None
    clock.advance(5)
    renewed = store.leases.renew(lease, 10)
    assert renewed is not None
    assert renewed.expires_at == START + timedelta(seconds=15)
    stranger = type(lease)(lease.name, "node-2", lease.token, lease.acquired_at, lease.expires_at)
    assert store.leases.renew(stranger, 10) is None
    stale = type(lease)(lease.name, lease.owner, lease.token - 1, lease.acquired_at, START)
    assert store.leases.renew(stale, 10) is None
    clock.advance(10)  # expired: renewing is too late, taking it again gives a new token
    assert store.leases.renew(lease, 10) is None
    retaken = store.leases.acquire("a", "node-1", 10)
    assert retaken is not None
    assert retaken.token == 2


def test_release_frees_at_once_and_tokens_never_go_back(store: Store) -> None:
    tokens = []
    for owner in ("node-1", "node-2", "node-1", "node-3"):
        lease = store.leases.acquire("a", owner, 10)
        assert lease is not None
        tokens.append(lease.token)
        assert store.leases.release(lease) is True
        assert store.leases.release(lease) is False
    assert tokens == [1, 2, 3, 4]
    assert store.leases.list("a", held_only=True) == []
    assert [lease.name for lease in store.leases.list("a")] == ["a"]


def test_listing_by_prefix_and_held_only(store: Store, clock: Clock) -> None:
    store.leases.acquire("node:one", "one", 10)
    store.leases.acquire("node:two", "two", 30)
    store.leases.acquire("subscription:x", "one", 30)
    clock.advance(15)
    assert [lease.owner for lease in store.leases.list("node:", held_only=True)] == ["two"]
    assert len(store.leases.list("node:")) == 2


def test_contending_owners_get_one_winner(store: Store) -> None:
    owners = [f"node-{i}" for i in range(8)]
    with ThreadPoolExecutor(len(owners)) as pool:
        won = list(pool.map(lambda owner: store.leases.acquire("race", owner, 10), owners))
    winners = [lease for lease in won if lease is not None]
    assert len(winners) == 1
    assert store.leases.list("race")[0].owner == winners[0].owner


def test_bad_arguments_are_refused(store: Store) -> None:
    with pytest.raises(ConfigError, match="positive"):
        store.leases.acquire("a", "node-1", 0)
    with pytest.raises(ConfigError, match="name and an owner"):
        store.leases.acquire("", "node-1", 10)
