"""Observed connector calls in memory: counted by hour, caller, System, direction and
operation; kept when the store cannot take them; bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.connectors.observed import CallCounts, CallFlusher
from interlink.store import open_store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_calls_add_up_by_key_and_hour() -> None:
    counts = CallCounts(clock=lambda: 7200.0 + 5)
    counts.add("copy", "shop", "poll", 500)
    counts.add("copy", "shop", "poll", 20)
    counts.add("copy", "shop", "poll", failed=True)
    counts.add("copy", "dwh", "write", 520)
    counts.add("copy", "shop", "poll", 1, at=3600.0)
    assert counts.take() == {
        (7200, "copy", "shop", "read", "poll"): [3, 520, 1],
        (7200, "copy", "dwh", "write", "write"): [1, 520, 0],
        (3600, "copy", "shop", "read", "poll"): [1, 1, 0],
    }
    assert counts.take() == {}


def test_a_full_table_counts_what_it_drops() -> None:
    counts = CallCounts(limit=1, clock=lambda: 0.0)
    counts.add("a", "shop", "query", 1)
    counts.add("a", "shop", "query", 1)  # a known key still counts
    counts.add("b", "shop", "query", 1)
    assert counts.dropped == 1
    assert counts.take() == {(0, "a", "shop", "read", "query"): [2, 2, 0]}


async def test_counts_a_store_refused_are_kept_for_the_next_flush(tmp_path: Path) -> None:
    counts = CallCounts(clock=lambda: 3600.0)
    counts.add("copy", "shop", "write", 10)
    counts.add("copy", "shop", "write", failed=True)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    store.close()  # closed: every write fails
    assert await CallFlusher(counts, store).flush() == 0
    assert counts.counts == {(3600, "copy", "shop", "write", "write"): [2, 10, 1]}
    with open_store(url) as opened:
        opened.migrate()
        flusher = CallFlusher(counts, opened)
        assert await flusher.flush() == 1
        await flusher.stop()
        (row,) = opened.connector_calls.list()
    assert (row.caller, row.calls, row.volume, row.errors) == ("copy", 2, 10, 1)
