"""The ``Bus`` contract, proved on every backend: each test runs on SQLite and on NATS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta

import pytest

from interlink.errors import BusUnavailable, PayloadTooLarge, UnknownConsumer, UnknownEventType
from interlink.events.bus import (
    Appended,
    Bus,
    ConsumerSpec,
    Envelope,
    Message,
    StreamInfo,
    StreamSpec,
)

from .conftest import BusKit, event

pytestmark = pytest.mark.anyio

TYPE = "com.example.order.created"
OTHER = "com.example.order.cancelled"


def stream(type_: str = TYPE, *, window: float = 600.0, max_payload: int = 65_536) -> StreamSpec:
    return StreamSpec(type_, window, max_payload)


def seqs(messages: Sequence[Message]) -> list[int]:
    return [m.seq for m in messages]


async def collect(bus: Bus, consumer: str, want: int, within: float = 10.0) -> list[Message]:
    """Pull until ``want`` events came or ``within`` seconds passed."""
    deadline = time.monotonic() + within
    got: list[Message] = []
    while len(got) < want and (remaining := deadline - time.monotonic()) > 0:
        got.extend(await bus.pull(consumer, want - len(got), remaining))
    return got


async def read_all(bus: Bus, type_: str, page: int = 1000) -> list[Message]:
    out: list[Message] = []
    while batch := await bus.read(type_, len(out) + 1, page):
        out.extend(batch)
    return out


# --- appending and reading -----------------------------------------------------------------------


async def test_publish_and_read_back(bus: Bus, kit: BusKit) -> None:
    await bus.ensure([stream()], [])
    before = kit.now() - timedelta(seconds=5)
    plain = event(TYPE, 1)
    odd = Envelope(TYPE, " id é\n\t", " /src?a=1&b=%20 ", "key: ünï/code", b"\x00\xffbinary")
    empty_key = Envelope(TYPE, "e3", "/test", "", b"{}")
    assert await bus.publish([plain, odd, empty_key]) == [Appended(1), Appended(2), Appended(3)]

    got = await bus.read(TYPE, 1, 10)
    assert [(m.type, m.seq, m.id, m.source, m.key, m.body) for m in got] == [
        (TYPE, 1, plain.id, plain.source, None, plain.body),
        (TYPE, 2, odd.id, odd.source, odd.key, odd.body),
        (TYPE, 3, "e3", "/test", "", b"{}"),
    ]
    assert all(m.stored_at.tzinfo is not None and m.stored_at >= before for m in got)
    assert all(m.deliveries == 1 for m in got)
    assert seqs(await bus.read(TYPE, 2, 10)) == [2, 3]
    assert seqs(await bus.read(TYPE, 0, 1)) == [1]
    assert await bus.read(TYPE, 4, 10) == []
    assert await bus.info(TYPE) == StreamInfo(TYPE, 1, 3, 3)


async def test_an_empty_log(bus: Bus) -> None:
    await bus.ensure([stream()], [])
    assert await bus.publish([]) == []
    assert await bus.info(TYPE) == StreamInfo(TYPE, 0, 0, 0)
    assert await bus.read(TYPE, 1, 10) == []


async def test_sequences_are_per_type(bus: Bus) -> None:
    await bus.ensure([stream(TYPE), stream(OTHER)], [])
    mixed = [event(TYPE, 1), event(OTHER, 1), event(TYPE, 2), event(OTHER, 2), event(TYPE, 3)]
    assert [a.seq for a in await bus.publish(mixed)] == [1, 1, 2, 2, 3]
    assert await bus.info(TYPE) == StreamInfo(TYPE, 1, 3, 3)
    assert await bus.info(OTHER) == StreamInfo(OTHER, 1, 2, 2)
    assert [m.id for m in await bus.read(OTHER, 1, 10)] == ["e1", "e2"]


async def test_everything_survives_a_reopen(kit: BusKit) -> None:
    first = await kit.open()
    await first.ensure([stream()], [ConsumerSpec("c", TYPE, "earliest")])
    await first.publish([event(TYPE, n) for n in range(1, 6)])
    await first.ack("c", seqs(await collect(first, "c", 2)))
    stored = await first.read(TYPE, 1, 10)
    await first.close()

    again = await kit.open()  # no ensure: streams and consumers are found as they were
    assert await again.read(TYPE, 1, 10) == stored
    assert await again.info(TYPE) == StreamInfo(TYPE, 1, 5, 5)
    assert await again.pending("c") == 3
    assert await again.publish([event(TYPE, 1), event(TYPE, 6)]) == [
        Appended(1, duplicate=True),  # the dedup window outlives the restart
        Appended(6),
    ]
    assert seqs(await collect(again, "c", 4)) == [3, 4, 5, 6]


async def test_a_repeated_source_and_id_is_appended_once(bus: Bus) -> None:
    await bus.ensure([stream()], [])
    assert await bus.publish([event(TYPE, 1), event(TYPE, 2)]) == [Appended(1), Appended(2)]
    repeated = [event(TYPE, 2), event(TYPE, 3), event(TYPE, 3), event(TYPE, 1)]
    assert await bus.publish(repeated) == [
        Appended(2, duplicate=True),
        Appended(3),
        Appended(3, duplicate=True),  # a repeat within one batch, too
        Appended(1, duplicate=True),
    ]
    assert await bus.publish([event(TYPE, 1, source="/elsewhere")]) == [Appended(4)]
    assert (await bus.info(TYPE)).count == 4


async def test_dedup_ends_with_the_window(bus: Bus, kit: BusKit) -> None:
    await bus.ensure([stream(window=1.0)], [])
    assert await bus.publish([event(TYPE, 1)]) == [Appended(1)]
    assert await bus.publish([event(TYPE, 1)]) == [Appended(1, duplicate=True)]
    await kit.advance(1.5)
    assert await bus.publish([event(TYPE, 1)]) == [Appended(2)]


async def test_concurrent_publishers_get_distinct_sequences(bus: Bus) -> None:
    await bus.ensure([stream()], [])

    async def publisher(p: int) -> list[tuple[str, int]]:
        size = 1 if p % 2 else 25  # single events and batches, interleaved
        out: list[tuple[str, int]] = []
        for start in range(0, 200, size):
            batch = [event(TYPE, p * 1000 + n) for n in range(start, start + size)]
            appended = await bus.publish(batch)
            assert not any(a.duplicate for a in appended)
            out.extend((e.id, a.seq) for e, a in zip(batch, appended, strict=True))
        return out

    results = await asyncio.gather(*(publisher(p) for p in range(50)))
    acknowledged = dict(pair for result in results for pair in result)
    assert len(acknowledged) == 10_000
    assert sorted(acknowledged.values()) == list(range(1, 10_001))
    stored = await read_all(bus, TYPE)
    assert {m.id: m.seq for m in stored} == acknowledged


async def test_payload_over_the_cap_refuses_the_batch(bus: Bus) -> None:
    await bus.ensure([stream(max_payload=100)], [])
    fits = Envelope(TYPE, "fits", "/test", None, b"x" * 100)
    big = Envelope(TYPE, "big", "/test", None, b"x" * 101)
    with pytest.raises(PayloadTooLarge) as caught:
        await bus.publish([fits, big])
    assert caught.value.status == 413
    assert "101" in caught.value.message
    assert (await bus.info(TYPE)).count == 0  # nothing of the batch
    assert await bus.publish([fits]) == [Appended(1)]


async def test_unknown_types_and_consumers(bus: Bus) -> None:
    await bus.ensure([stream()], [ConsumerSpec("c", TYPE)])
    unknown = "com.example.never.declared"
    for attempt in (
        bus.publish([event(TYPE, 1), event(unknown, 1)]),
        bus.read(unknown, 1, 10),
        bus.info(unknown),
        bus.ensure([stream()], [ConsumerSpec("d", unknown)]),
    ):
        with pytest.raises(UnknownEventType) as caught:
            await attempt
        assert caught.value.status == 404
    assert (await bus.info(TYPE)).count == 0
    for call in (bus.pull("nobody", 1, 0), bus.pending("nobody"), bus.ack("nobody", [1])):
        with pytest.raises(UnknownConsumer):
            await call


# --- consuming -----------------------------------------------------------------------------------


async def test_start_positions(bus: Bus, kit: BusKit) -> None:
    await bus.ensure([stream()], [])
    await bus.publish([event(TYPE, n) for n in (1, 2, 3)])
    await kit.advance(0.3)
    middle = kit.now()
    await kit.advance(0.3)
    await bus.publish([event(TYPE, n) for n in (4, 5)])
    await bus.ensure(
        [stream()],
        [
            ConsumerSpec("from-new", TYPE, "new"),
            ConsumerSpec("from-earliest", TYPE, "earliest"),
            ConsumerSpec("from-time", TYPE, middle),
            ConsumerSpec("from-future", TYPE, middle + timedelta(hours=1)),
        ],
    )
    await bus.publish([event(TYPE, 6)])
    assert seqs(await collect(bus, "from-new", 1)) == [6]
    assert seqs(await collect(bus, "from-earliest", 6)) == [1, 2, 3, 4, 5, 6]
    assert seqs(await collect(bus, "from-time", 3)) == [4, 5, 6]
    assert seqs(await collect(bus, "from-future", 1, within=1.0)) == [6]
    assert seqs(await bus.read(TYPE, middle, 10)) == [4, 5, 6]
    assert seqs(await bus.read(TYPE, middle - timedelta(hours=1), 2)) == [1, 2]
    assert await bus.read(TYPE, kit.now() + timedelta(hours=1), 10) == []


async def test_pull_hands_out_in_order_and_once(bus: Bus) -> None:
    await bus.ensure([stream()], [ConsumerSpec("c", TYPE, "earliest")])
    await bus.publish([event(TYPE, n) for n in range(1, 11)])
    first = await bus.pull("c", 4, 1.0)
    assert seqs(first) == [1, 2, 3, 4]
    assert [m.id for m in first] == ["e1", "e2", "e3", "e4"]
    assert all(m.deliveries == 1 and m.type == TYPE for m in first)
    assert seqs(await collect(bus, "c", 6)) == [5, 6, 7, 8, 9, 10]
    assert await bus.pull("c", 100, 0.2) == []  # handed out, not acked, not yet due again


async def test_pull_waits_for_new_events_without_spinning(bus: Bus) -> None:
    await bus.ensure([stream()], [ConsumerSpec("c", TYPE, "new")])
    cpu, start = time.process_time(), time.monotonic()
    assert await bus.pull("c", 10, 0.6) == []
    assert 0.55 <= time.monotonic() - start < 2.0
    assert time.process_time() - cpu < 0.3  # waited, did not poll

    async def publish_soon() -> None:
        await asyncio.sleep(0.3)
        await bus.publish([event(TYPE, 1), event(TYPE, 2)])

    task = asyncio.create_task(publish_soon())
    start = time.monotonic()
    got = await bus.pull("c", 10, 10.0)
    assert time.monotonic() - start < 3.0  # woke on the event, not at the timeout
    await task
    assert seqs(got + await collect(bus, "c", 2 - len(got))) == [1, 2]


async def test_acks_move_the_cursor_and_unacked_come_back_after_a_restart(kit: BusKit) -> None:
    first = await kit.open(ack_wait=1.0)
    await first.ensure([stream()], [ConsumerSpec("c", TYPE, "earliest")])
    await first.publish([event(TYPE, n) for n in range(1, 7)])
    assert seqs(await collect(first, "c", 6)) == [1, 2, 3, 4, 5, 6]
    await first.ack("c", [1, 2, 3])
    assert await first.pending("c") == 3
    await first.close()

    again = await kit.open(ack_wait=1.0)
    redelivered = await collect(again, "c", 3)
    assert seqs(redelivered) == [4, 5, 6]
    assert [m.id for m in redelivered] == ["e4", "e5", "e6"]
    await again.ack("c", [4, 5, 6])
    assert await again.pending("c") == 0
    assert await again.pull("c", 10, 1.5) == []  # acked events never come back


async def test_unacked_events_come_back_after_ack_wait(kit: BusKit) -> None:
    bus = await kit.open(ack_wait=1.0)
    await bus.ensure([stream()], [ConsumerSpec("c", TYPE, "earliest")])
    await bus.publish([event(TYPE, 1), event(TYPE, 2)])
    assert seqs(await collect(bus, "c", 2)) == [1, 2]
    await bus.ack("c", [1])
    again = await collect(bus, "c", 1, within=10.0)
    assert seqs(again) == [2]
    assert again[0].deliveries == 2


async def test_out_of_order_acks(kit: BusKit) -> None:
    bus = await kit.open(ack_wait=1.0)
    await bus.ensure([stream()], [ConsumerSpec("c", TYPE, "earliest")])
    await bus.publish([event(TYPE, n) for n in range(1, 6)])
    assert seqs(await collect(bus, "c", 5)) == [1, 2, 3, 4, 5]
    await bus.ack("c", [3, 1, 5])
    assert await bus.pending("c") == 2
    await bus.ack("c", [2, 2, 99])  # repeats and unknown sequences are ignored
    assert await bus.pending("c") == 1
    await bus.close()

    again = await kit.open(ack_wait=1.0)
    back = seqs(await collect(again, "c", 1))
    # 1-3 are below the cursor and never return; 4 must; 5 may (acked above the cursor).
    assert back[0] == 4
    back += seqs(await again.pull("c", 10, 0.5))
    assert set(back) <= {4, 5}


async def test_ensure_is_idempotent_keeps_cursors_and_prunes_only_when_told(kit: BusKit) -> None:
    bus = await kit.open()
    streams = [stream()]
    a, b = ConsumerSpec("a", TYPE, "earliest"), ConsumerSpec("b", TYPE, "earliest")
    await bus.ensure(streams, [a, b])
    await bus.ensure(streams, [a, b])
    await bus.publish([event(TYPE, n) for n in range(1, 5)])
    assert seqs(await collect(bus, "a", 4)) == [1, 2, 3, 4]
    await bus.ack("a", [1, 2])

    # A changed start position does not move an existing cursor.
    await bus.ensure(streams, [ConsumerSpec("a", TYPE, "new"), ConsumerSpec("b", TYPE, "new")])
    assert await bus.pending("a") == 2
    assert await bus.pending("b") == 4

    # Additive unless told to prune: another node may still deliver b.
    await bus.ensure(streams, [a])
    assert await bus.pending("b") == 4
    await bus.ensure(streams, [a], prune=True)
    with pytest.raises(UnknownConsumer):
        await bus.pending("b")
    with pytest.raises(UnknownConsumer):
        await bus.pull("b", 1, 0)
    other = await kit.open()
    with pytest.raises(UnknownConsumer):
        await other.pending("b")
    assert await other.pending("a") == 2

    await bus.ensure(streams, [a, ConsumerSpec("b", TYPE, "new")])  # back, but as a new one
    assert await bus.pending("b") == 0
    assert await bus.info(TYPE) == StreamInfo(TYPE, 1, 4, 4)  # ensure never touches events


async def test_a_consumer_moved_to_another_type_starts_over(bus: Bus) -> None:
    streams = [stream(TYPE), stream(OTHER)]
    await bus.ensure(streams, [ConsumerSpec("c", TYPE, "earliest")])
    await bus.publish([event(TYPE, 1), event(TYPE, 2), event(OTHER, 1)])
    await bus.ack("c", seqs(await collect(bus, "c", 2)))
    # Moved only when pruning: a node on an older revision must not undo a newer one's move.
    await bus.ensure(streams, [ConsumerSpec("c", OTHER, "earliest")])
    assert await bus.pending("c") == 0
    await bus.ensure(streams, [ConsumerSpec("c", OTHER, "earliest")], prune=True)
    assert await bus.pending("c") == 1
    got = await collect(bus, "c", 1)
    assert [(m.type, m.seq) for m in got] == [(OTHER, 1)]


async def test_pending_counts_what_is_not_acked(bus: Bus) -> None:
    await bus.ensure([stream()], [ConsumerSpec("c", TYPE, "earliest")])
    assert await bus.pending("c") == 0
    await bus.publish([event(TYPE, n) for n in range(1, 6)])
    assert await bus.pending("c") == 5
    assert seqs(await collect(bus, "c", 3)) == [1, 2, 3]
    assert await bus.pending("c") == 5  # handed out is not done
    await bus.ack("c", [1, 2])
    assert await bus.pending("c") == 3


async def test_close_is_idempotent_and_final(kit: BusKit) -> None:
    bus = await kit.open()
    await bus.ensure([stream()], [])
    await bus.close()
    await bus.close()
    with pytest.raises(BusUnavailable):
        await bus.publish([event(TYPE, 1)])


async def test_a_consumer_made_again_resumes_after_the_given_sequence(bus: Bus) -> None:
    await bus.ensure([stream()], [])
    await bus.publish([event(TYPE, n) for n in range(1, 6)])
    await bus.ensure([stream()], [ConsumerSpec("c", TYPE, "new", resume_after=3)])
    assert seqs(await collect(bus, "c", 2)) == [4, 5]
    # An existing consumer keeps its cursor whatever it is told to resume after.
    await bus.ensure([stream()], [ConsumerSpec("c", TYPE, "new", resume_after=0)])
    assert await bus.pending("c") == 2
