"""The ``kit`` fixture: a way to open buses on one log, on each backend in turn.

Tests run on anyio's pytest plugin (installed with httpx) on asyncio. Each NATS test gets a
prefix of its own and deletes every stream under it afterwards; the embedded backend gets a
fresh file and a fake clock, so windows and start times need no sleeping.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest

from interlink.events.backends.embedded import EmbeddedBus
from interlink.events.backends.nats import NatsBus
from interlink.events.backends.nats_names import owned
from interlink.events.bus import Bus, Envelope
from interlink.testing.services import nats_reachable, nats_url, require_service

T0 = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class BusKit:
    """Opens buses on one log: the same file, or the same NATS prefix on the same server."""

    backend: str
    make: Callable[..., Bus]
    clock: FakeClock | None = None
    opened: list[Bus] = field(default_factory=list)

    async def open(self, **options: Any) -> Bus:
        bus = self.make(**options)
        await bus.open()
        self.opened.append(bus)
        return bus

    def now(self) -> datetime:
        return self.clock() if self.clock is not None else datetime.now(UTC)

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: on the fake clock, or for real where the server keeps time."""
        if self.clock is not None:
            self.clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)

    async def close_all(self) -> None:
        for bus in self.opened:
            await bus.close()


@functools.cache
def _nats_status(url: str) -> bool | str:
    # Probed once per run: a down server would otherwise cost a timeout per test.
    return nats_reachable(url)


@pytest.fixture
def nats_server_url() -> str:
    """The test NATS server; skips (or fails, in CI) when it is down."""
    url = nats_url()
    require_service("NATS", lambda: _nats_status(url))
    return url


async def delete_streams(url: str, prefix: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for stream in await js.streams_info():
            name = stream.config.name
            if name and owned(prefix, name):
                await js.delete_stream(name)
    finally:
        await nc.close()


@pytest.fixture(params=["embedded", pytest.param("nats", marks=pytest.mark.nats)])
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BusKit]:
    """Each backend in turn; every bus opened through it is closed afterwards."""
    if request.param == "embedded":
        clock = FakeClock()
        path = tmp_path / ".interlink" / "events.db"

        def embedded(**options: Any) -> Bus:
            return EmbeddedBus(path, clock=clock, **{"ack_wait": 5.0, **options})

        kit = BusKit("embedded", embedded, clock)
        yield kit
        await kit.close_all()
        return
    url: str = request.getfixturevalue("nats_server_url")
    prefix = f"t{uuid.uuid4().hex[:12]}"

    def on_nats(**options: Any) -> Bus:
        return NatsBus(url, prefix=prefix, **{"ack_wait": 5.0, **options})

    kit = BusKit("nats", on_nats)
    try:
        yield kit
    finally:
        await kit.close_all()
        await delete_streams(url, prefix)


@pytest.fixture
async def bus(kit: BusKit) -> Bus:
    return await kit.open()


def event(type_: str, n: int, *, source: str = "/test", key: str | None = None) -> Envelope:
    """The ``n``-th test event of a type; the same ``n`` gives the same (source, id)."""
    body = f'{{"specversion":"1.0","type":"{type_}","source":"{source}","id":"e{n}"}}'.encode()
    return Envelope(type_, f"e{n}", source, key, body)
