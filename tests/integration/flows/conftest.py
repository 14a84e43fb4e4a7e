"""Fixtures of the flow engine's tests: a migrated store, a loopback upstream, the env the
test estates refer to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interlink.store import Store, open_store
from interlink.testing.upstreams import UpstreamThread


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as server:
        yield server


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    # The estate names its store and the System's key by reference; child processes inherit.
    monkeypatch.setenv("FLOWS_TEST_KEY", "k-123")
    monkeypatch.setenv("FLOWS_TEST_STORE", store_url)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        opened.migrate()
        yield opened
