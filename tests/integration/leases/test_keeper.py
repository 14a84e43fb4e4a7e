"""The lease keeper and the singleton helper over the store's leases, on SQLite and
PostgreSQL. Rounds are run by hand and the store's clock is moved by hand, so nothing waits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from interlink.leases import HeldLease, LeaseKeeper, Singleton
from interlink.store import Store, open_store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 14, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[Store]:
    with open_store(store_url, clock=clock) as store:
        store.migrate()
        yield store


class Work:
    """Records what a keeper told it, per lease name."""

    def __init__(self) -> None:
        self.running: dict[str, HeldLease] = {}
        self.stops: list[tuple[str, bool]] = []

    async def start(self, held: HeldLease) -> None:
        self.running[held.name] = held

    async def stop(self, name: str, lost: bool) -> None:
        self.running.pop(name, None)
        self.stops.append((name, lost))


def keeper(store: Store, owner: str, work: Work, names: list[str]) -> LeaseKeeper:
    # A long local deadline: these tests judge expiry by the store's clock only.
    made = LeaseKeeper(store.leases, owner, ttl=10, margin=-3600)
    for name in names:
        made.claim(name, work.start, work.stop)
    return made


async def settle(*keepers: LeaseKeeper) -> None:
    for k in keepers:
        await k.round()
        await asyncio.gather(*k._leaving.values())


NAMES = [f"subscription:s{i}" for i in range(5)]


async def test_shared_work_spreads_over_the_live_nodes(store: Store) -> None:
    a_work, b_work = Work(), Work()
    a = keeper(store, "a", a_work, NAMES)
    await settle(a)
    assert sorted(a_work.running) == NAMES  # alone, it takes everything
    b = keeper(store, "b", b_work, NAMES)
    await settle(b, a, b)  # b joins; a gives up its excess; b takes it
    assert len(a_work.running) == 3
    assert len(b_work.running) == 2
    assert set(a_work.running).isdisjoint(b_work.running)
    assert all(not lost for _, lost in a_work.stops)  # given up gracefully, not lost
    owners = {lease.name: lease.owner for lease in store.leases.list("subscription:")}
    assert owners == {**dict.fromkeys(a_work.running, "a"), **dict.fromkeys(b_work.running, "b")}


async def test_each_family_of_shared_work_spreads_on_its_own(store: Store) -> None:
    # Pooled, a's two monitor shards and two subscriptions would fill its share of four of
    # the eight, and b could end up with every subscription.
    names = [*NAMES[:4], *(f"monitors:{i}" for i in range(4))]
    a_work, b_work = Work(), Work()
    a = keeper(store, "a", a_work, names)
    await settle(a)
    b = keeper(store, "b", b_work, names)
    await settle(b, a, b)
    for work in (a_work, b_work):
        families = sorted(name.split(":")[0] for name in work.running)
        assert families == ["monitors", "monitors", "subscription", "subscription"]


async def test_a_dead_nodes_work_moves_on_and_it_stops_when_it_finds_out(
    store: Store, clock: Clock
) -> None:
    a_work, b_work = Work(), Work()
    a, b = keeper(store, "a", a_work, NAMES), keeper(store, "b", b_work, NAMES)
    await settle(a, b, a, b)
    a_held = dict(a_work.running)
    clock.now += timedelta(seconds=11)  # a stops renewing (it "died"); b renews
    await settle(b)  # b's heartbeat and leases were expired too: it takes everything back
    await settle(b)
    assert sorted(b_work.running) == NAMES
    tokens = {lease.name: lease.token for lease in store.leases.list("subscription:")}
    assert all(tokens[name] > held.token for name, held in a_held.items())
    await settle(a)  # a comes back: its renewals are refused, its work stops at once
    assert a_work.running == {}
    assert sorted(name for name, lost in a_work.stops if lost) == sorted(a_held)
    assert all(not held.valid() for held in a_held.values())


async def test_work_that_finds_its_lease_taken_stops_at_the_next_round(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    work = Work()
    a = keeper(store, "a", work, NAMES[:2])
    await settle(a)
    held = work.running[NAMES[0]]
    a.refused(NAMES[0])  # a write fenced by its token was refused
    assert not held.valid()
    assert a.held(NAMES[0]) is None
    await settle(a)
    assert work.stops == [(NAMES[0], True)]
    assert list(work.running) == [NAMES[1]]
    assert "a write fenced by it was refused" in caplog.text
    a.refused(NAMES[0])  # no longer held here: nothing to do
    await settle(a)
    assert work.stops == [(NAMES[0], True)]


async def test_stop_releases_so_another_node_takes_over_at_once(store: Store) -> None:
    a_work, b_work = Work(), Work()
    a, b = keeper(store, "a", a_work, NAMES), keeper(store, "b", b_work, NAMES)
    await settle(a, b, a, b)
    await a.stop()
    assert a_work.running == {}
    await settle(b)
    assert sorted(b_work.running) == NAMES
    assert store.leases.list("node:", held_only=True)[0].owner == "b"


async def test_unclaimed_work_stops_and_is_released(store: Store) -> None:
    work = Work()
    a = keeper(store, "a", work, NAMES[:2])
    await settle(a)
    await a.unclaim(NAMES[0])
    assert list(work.running) == [NAMES[1]]
    assert [lease.name for lease in store.leases.list("subscription:", held_only=True)] == [
        NAMES[1]
    ]


async def test_a_singleton_runs_on_one_node_and_is_cancelled_when_lost(
    store: Store, clock: Clock
) -> None:
    ran: list[tuple[str, int]] = []
    never = asyncio.Event()

    def job(owner: str):  # type: ignore[no-untyped-def]
        async def run(held: HeldLease) -> None:
            ran.append((owner, held.token))
            await never.wait()

        return run

    a = LeaseKeeper(store.leases, "a", ttl=10, margin=-3600)
    b = LeaseKeeper(store.leases, "b", ttl=10, margin=-3600)
    one, two = Singleton(a, "reconcile", job("a")), Singleton(b, "reconcile", job("b"))
    await settle(a, b)
    await asyncio.sleep(0)
    assert ran == [("a", 1)]
    assert one.running
    assert not two.running
    clock.now += timedelta(seconds=11)
    await settle(b)
    await asyncio.sleep(0)
    assert ran == [("a", 1), ("b", 2)]
    await settle(a)
    assert not one.running
    await two.close()
    assert not two.running
    assert store.leases.list("reconcile", held_only=True) == []
