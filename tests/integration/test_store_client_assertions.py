"""The jtis of client assertions in the store, on each backend: one used again is refused until
it expires, whichever connection (node) asks."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from interlink.store import Store, open_store

START = datetime(2026, 3, 14, 9, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

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


def test_a_jti_is_taken_once_until_it_expires(store: Store, clock: Clock) -> None:
    until = START + timedelta(minutes=2)
    assert store.client_assertions.remember("partner", "j1", until)
    assert not store.client_assertions.remember("partner", "j1", until)
    assert store.client_assertions.remember("other", "j1", until)  # another client's own
    clock.now = until + timedelta(seconds=1)  # expired: kept no longer
    assert store.client_assertions.remember("partner", "j1", clock.now + timedelta(minutes=1))


def test_of_concurrent_requests_with_one_assertion_one_wins(store_url: str, clock: Clock) -> None:
    nodes = [open_store(store_url, clock=clock) for _ in range(4)]
    try:
        nodes[0].migrate()
        until = START + timedelta(minutes=2)
        with ThreadPoolExecutor(4) as pool:
            taken = list(
                pool.map(lambda s: s.client_assertions.remember("partner", "same", until), nodes)
            )
        assert sorted(taken) == [False, False, False, True]
    finally:
        for node in nodes:
            node.close()
