"""Two flow engines on one PostgreSQL store, as two nodes: a run is run by one at a time, and a
run whose node stopped is taken over once its lease lapsed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlink.store import Store, open_store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.flows.test_engine import SAGA, engine_for, requests_to, write_estate

pytestmark = pytest.mark.postgres


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as server:
        yield server


@pytest.fixture
def stores(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, Store]]:
    monkeypatch.setenv("FLOWS_TEST_KEY", "k-123")
    monkeypatch.setenv("FLOWS_TEST_STORE", pg_url)
    with open_store(pg_url) as one, open_store(pg_url) as two:
        one.migrate()
        yield one, two


def test_two_nodes_never_run_the_same_run_at_once(
    tmp_path: Path, stores: tuple[Store, Store], upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    upstream.hold("/customers")
    first = engine_for(root, stores[0], owner="node-a")
    second = engine_for(root, stores[1], owner="node-b")

    async def go() -> str:
        run_id = await first.start("onboard", {"name": "Ada"})
        running = asyncio.create_task(first.run(run_id))
        while not requests_to(upstream, "/customers"):
            await asyncio.sleep(0.02)
        # node-a holds the run while its call is open: node-b gets the state, runs nothing.
        other = await second.run(run_id)
        assert (other.status, other.owner) == ("running", "node-a")
        assert await second.recover() == []
        upstream.release("/customers")
        return (await running).status

    assert asyncio.run(go()) == "completed"
    assert len(requests_to(upstream, "/customers")) == 1
    assert len(requests_to(upstream, "/notify")) == 1


def test_a_run_whose_node_stopped_is_taken_over_once_its_lease_lapsed(
    tmp_path: Path, stores: tuple[Store, Store], upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    gone = engine_for(root, stores[0], owner="node-a", lease_ttl=0.5)
    second = engine_for(root, stores[1], owner="node-b")

    async def go() -> str:
        run_id = await gone.start("onboard", {"name": "Ada"})  # recorded, never run: node-a died
        while True:
            recovered = await second.recover()
            if recovered:
                (run,) = recovered
                assert run.id == run_id
                return run.status
            await asyncio.sleep(0.1)

    assert asyncio.run(go()) == "completed"
    assert len(requests_to(upstream, "/customers")) == 1
