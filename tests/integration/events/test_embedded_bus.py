"""What only the embedded log has: group commit, a file that survives kill -9, a local clock."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from interlink.errors import BusUnavailable
from interlink.events.backends.embedded import EmbeddedBus, default_events_path
from interlink.events.bus import Appended, ConsumerSpec, Message, StreamSpec

from .conftest import FakeClock, event

TYPE = "com.example.order.created"
STREAM = StreamSpec(TYPE, 600.0, 65_536)


async def read_all(bus: EmbeddedBus, type_: str) -> list[Message]:
    out: list[Message] = []
    while batch := await bus.read(type_, len(out) + 1, 1000):
        out.extend(batch)
    return out


def test_the_default_file_sits_under_dot_interlink(tmp_path: Path) -> None:
    assert default_events_path(tmp_path) == tmp_path / ".interlink" / "events.db"


@pytest.mark.anyio
async def test_concurrent_publishes_share_transactions(tmp_path: Path) -> None:
    async with EmbeddedBus(tmp_path / "events.db") as bus:
        await bus.ensure([STREAM], [])
        before = bus.transactions
        results = await asyncio.gather(*(bus.publish([event(TYPE, n)]) for n in range(2000)))
        assert sorted(r[0].seq for r in results) == list(range(1, 2001))
        assert bus.transactions - before < 2000 / 20  # group commit: far fewer than publishes
    with sqlite3.connect(tmp_path / "events.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.anyio
async def test_close_writes_what_was_queued(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "events.db")
    await bus.open()
    await bus.ensure([STREAM], [ConsumerSpec("c", TYPE)])
    waiting = asyncio.create_task(bus.pull("c", 10, 30.0))
    publishes = [asyncio.create_task(bus.publish([event(TYPE, n)])) for n in range(100)]
    await asyncio.sleep(0)  # every publish is queued, none written yet
    await bus.close()
    assert sorted(r[0].seq for r in await asyncio.gather(*publishes)) == list(range(1, 101))
    assert len(await asyncio.wait_for(waiting, 5)) <= 10  # a waiting pull ends with the bus
    with pytest.raises(BusUnavailable):
        await bus.publish([event(TYPE, 1)])
    async with EmbeddedBus(tmp_path / "events.db") as again:
        assert (await again.info(TYPE)).count == 100


@pytest.mark.anyio
async def test_a_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(BusUnavailable) as caught:
        await EmbeddedBus(blocker / "events.db").open()
    assert "a-file" in caught.value.message


@pytest.mark.anyio
async def test_stored_at_never_goes_back(tmp_path: Path) -> None:
    clock = FakeClock()
    async with EmbeddedBus(tmp_path / "events.db", clock=clock) as bus:
        await bus.ensure([STREAM], [])
        await bus.publish([event(TYPE, 1)])
        clock.advance(-60)  # the system clock steps back
        await bus.publish([event(TYPE, 2)])
        first, second = await bus.read(TYPE, 1, 10)
        assert second.stored_at >= first.stored_at
        assert [m.seq for m in await bus.read(TYPE, first.stored_at, 10)] == [1, 2]


@pytest.mark.anyio
async def test_a_longer_window_remembers_older_ids(tmp_path: Path) -> None:
    clock = FakeClock()
    async with EmbeddedBus(tmp_path / "events.db", clock=clock) as bus:
        await bus.ensure([StreamSpec(TYPE, 1.0, 65_536)], [])
        await bus.publish([event(TYPE, 1)])
        clock.advance(30)
        await bus.ensure([StreamSpec(TYPE, 60.0, 65_536)], [])
        assert await bus.publish([event(TYPE, 1)]) == [Appended(1, duplicate=True)]


CHILD = r"""
import asyncio, sys
from pathlib import Path
from interlink.events.backends.embedded import EmbeddedBus
from interlink.events.bus import Envelope, StreamSpec

async def main() -> None:
    bus = EmbeddedBus(Path(sys.argv[1]))
    await bus.open()
    await bus.ensure([StreamSpec("t", 600.0, 65536)], [])

    async def publisher(p: int) -> None:
        n = 0
        while True:
            batch = [Envelope("t", f"{p}-{n + i}", "/kill", None, b"x" * 200) for i in range(10)]
            n += 10
            appended = await bus.publish(batch)
            print(" ".join(f"{e.id}={a.seq}" for e, a in zip(batch, appended)), flush=True)

    await asyncio.gather(*(publisher(p) for p in range(8)))

asyncio.run(main())
"""


def test_every_acknowledged_event_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    lines: list[str] = []
    try:
        while len(lines) < 400:
            line = child.stdout.readline()
            assert line, "the publisher died on its own"
            lines.append(line)
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: publishes are in flight
        lines.extend(child.stdout.read().splitlines())  # all it printed was acknowledged
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    acknowledged = dict(pair.split("=") for line in lines for pair in line.split())

    async def stored() -> dict[str, str]:
        async with EmbeddedBus(path) as bus:
            messages = await read_all(bus, "t")
            assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
            return {m.id: str(m.seq) for m in messages}

    on_disk = asyncio.run(stored())
    assert len(acknowledged) >= 4000
    assert {k: on_disk.get(k) for k in acknowledged} == acknowledged
