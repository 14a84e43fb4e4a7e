"""Monitors on several nodes: each monitor is evaluated by exactly one node, the shards spread
over the nodes' lease keepers (rounds run by hand), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from interlink.estate.check import check_estate
from interlink.estate.kinds.data import Monitor
from interlink.leases import LeaseKeeper
from interlink.observe.metrics import Registry
from interlink.observe.verdicts import Verdict
from interlink.runtime.monitors import SHARDS, MonitorRunner
from interlink.store import Store, open_store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as store:
        store.migrate()
        yield store


class Sink:
    def __init__(self) -> None:
        self.heard: list[str] = []

    async def verdicts(self, verdicts: Sequence[Verdict]) -> None:
        self.heard.extend(v.monitor for v in verdicts)


async def test_each_monitor_is_evaluated_by_one_node(store: Store, retail_dir: Path) -> None:
    estate = check_estate(retail_dir).estate
    declared = sorted(m.metadata.name for m in estate.of(Monitor))
    keepers = [LeaseKeeper(store.leases, owner, ttl=10, margin=-3600) for owner in "ab"]
    for keeper in keepers:  # both nodes live before either claims a shard
        await keeper.round()
    nodes = []
    for keeper in keepers:
        sink = Sink()
        runner = MonitorRunner(
            store, lambda: estate, Registry(), keeper=keeper, sink=sink, every=3600
        )
        await runner.start()
        nodes.append((keeper, runner, sink))
    try:
        for _ in range(2):
            for keeper, _, _ in nodes:
                await keeper.round()
                await asyncio.gather(*keeper._leaving.values())
        held = [{n for n in k._held if n.startswith("monitors:")} for k, _, _ in nodes]
        assert not held[0] & held[1]
        assert len(held[0] | held[1]) == SHARDS
        assert all(len(h) == SHARDS // 2 for h in held)
        deadline = time.monotonic() + 10
        while sum(len(s.heard) for _, _, s in nodes) < len(declared):
            assert time.monotonic() < deadline, [s.heard for _, _, s in nodes]
            await asyncio.sleep(0.02)
        heard = [s.heard for _, _, s in nodes]
        assert sorted(heard[0] + heard[1]) == declared  # each once, by one node
        assert {s.monitor for s in store.monitor_states.list()} == set(declared)
    finally:
        for _, runner, _ in nodes:
            await runner.close()
