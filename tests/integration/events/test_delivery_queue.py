"""The delivery queue on both store backends: every ``store_url`` test runs on SQLite and
PostgreSQL (a schema of its own per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlink.errors import ConfigError, LeaseLost, NotFound, StoreError
from interlink.events.bus import Message
from interlink.events.delivery.queue import DeliveryQueue, Fence, Job, JobKey, Outcome
from interlink.events.delivery.queue_sqlite import SQLiteDeliveryQueue
from interlink.events.delivery.queues import open_queue
from interlink.store import open_store

T0 = datetime(2025, 3, 14, 9, 0, 0, tzinfo=UTC)
SUB = "billing-hooks"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def queue(store_url: str) -> AsyncIterator[DeliveryQueue]:
    with open_store(store_url) as store:
        store.migrate()
    async with open_queue(store_url) as opened:
        yield opened


def msg(seq: int, key: str | None = None, body: bytes | None = None) -> Message:
    return Message(
        type="order.created",
        seq=seq,
        id=f"e{seq}",
        source="shop",
        key=key,
        body=body or b'{"id": "e%d"}' % seq,
        stored_at=T0 - timedelta(seconds=60 - seq),
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def seqs(jobs: Sequence[Job]) -> list[int]:
    return [job.key.seq for job in jobs]


pytestmark = pytest.mark.anyio


async def test_enqueue_is_idempotent_and_due_in_order(queue: DeliveryQueue) -> None:
    assert await queue.enqueue(SUB, [msg(1), msg(2), msg(3)], T0) == 3
    assert await queue.enqueue(SUB, [msg(2), msg(3), msg(4)], T0) == 1
    assert await queue.enqueue("other", [msg(1)], T0) == 1
    jobs = await queue.due(SUB, T0, 10)
    assert seqs(jobs) == [1, 2, 3, 4]
    first = jobs[0]
    assert (first.event_id, first.body, first.attempt) == ("e1", b'{"id": "e1"}', 0)
    assert first.published_at == T0 - timedelta(seconds=59)
    assert seqs(await queue.due(SUB, T0, 2)) == [1, 2]
    assert seqs(await queue.due(SUB, T0, 2, [JobKey(SUB, 1), JobKey(SUB, 3)])) == [2, 4]
    assert await queue.depth(SUB) == 4
    assert await queue.depth("other") == 1


async def test_outcomes_retire_reschedule_and_dead_letter(queue: DeliveryQueue) -> None:
    await queue.enqueue(SUB, [msg(1), msg(2), msg(3), msg(4)], T0)
    await queue.complete(
        [
            Outcome(JobKey(SUB, 1), "delivered", 1, status=204),
            Outcome(JobKey(SUB, 2), "retry", 1, at(5), 500, "HTTP 500", "oops"),
            Outcome(JobKey(SUB, 3), "dead", 8, status=400, error="HTTP 400", response="x" * 9000),
            Outcome(JobKey(SUB, 4), "dropped", 8, status=500),
        ],
        at(1),
    )
    assert seqs(await queue.due(SUB, at(4), 10)) == []
    assert await queue.next_due(SUB) == at(5)
    [job] = await queue.due(SUB, at(5), 10)
    assert (job.key.seq, job.attempt) == (2, 1)
    retried = await queue.get(f"{SUB}:2")
    assert (retried.state, retried.last_status, retried.last_response) == ("pending", 500, "oops")
    dead = await queue.get(JobKey(SUB, 3))
    assert (dead.state, dead.attempt, dead.last_status, dead.last_error) == (
        "dead",
        8,
        400,
        "HTTP 400",
    )
    assert dead.last_response == "x" * 4096 + "…"  # 4 KiB and a mark
    assert dead.updated_at == at(1)
    with pytest.raises(NotFound):
        await queue.get(JobKey(SUB, 1))
    with pytest.raises(NotFound):
        await queue.get(JobKey(SUB, 4))
    assert (await queue.depth(SUB), await queue.dlq_depth(SUB)) == (1, 1)


async def test_ordered_due_takes_only_the_head_of_each_key(queue: DeliveryQueue) -> None:
    await queue.enqueue(
        SUB, [msg(1, "a"), msg(2, "b"), msg(3, "a"), msg(4, None), msg(5, "b"), msg(6, None)], T0
    )
    assert seqs(await queue.due(SUB, T0, 10, ordered=True)) == [1, 2, 4, 6]
    assert seqs(await queue.due(SUB, T0, 10)) == [1, 2, 3, 4, 5, 6]
    # "a"'s head in flight holds "a"; "b" moves on once its head is done.
    await queue.complete([Outcome(JobKey(SUB, 2), "delivered", 1)], T0)
    busy = [JobKey(SUB, 1)]
    assert seqs(await queue.due(SUB, T0, 10, busy, ordered=True)) == [4, 5, 6]
    # "a"'s head failing holds "a" until it is due again.
    await queue.complete([Outcome(JobKey(SUB, 1), "retry", 1, at(30))], T0)
    assert seqs(await queue.due(SUB, at(10), 10, ordered=True)) == [4, 5, 6]
    assert await queue.next_due(SUB, [JobKey(SUB, s) for s in (4, 5, 6)], ordered=True) == at(30)
    assert seqs(await queue.due(SUB, at(30), 10, ordered=True)) == [4, 5, 6, 1]
    # A dead head no longer holds its key.
    await queue.complete([Outcome(JobKey(SUB, 1), "dead", 2)], at(30))
    assert seqs(await queue.due(SUB, at(30), 10, ordered=True)) == [3, 4, 5, 6]


async def test_take_answers_due_and_next_due_in_one_read(queue: DeliveryQueue) -> None:
    await queue.enqueue(SUB, [msg(1, "a"), msg(2, "b"), msg(3, "a"), msg(4, None), msg(5, "b")], T0)
    await queue.complete([Outcome(JobKey(SUB, 4), "retry", 1, at(20))], T0)
    await queue.complete([Outcome(JobKey(SUB, 2), "retry", 1, at(10))], T0)
    for ordered in (False, True):
        for now, limit, busy in [
            (T0, 10, []),
            (T0, 1, []),
            (T0, 10, [JobKey(SUB, 1)]),
            (at(10), 10, [JobKey(SUB, 1), JobKey(SUB, 3)]),
            (at(30), 2, []),
            (at(30), 10, [JobKey(SUB, s) for s in (1, 2, 3, 4, 5)]),
        ]:
            jobs, following = await queue.take(SUB, now, limit, busy, ordered=ordered)
            expected = await queue.due(SUB, now, limit, busy, ordered=ordered)
            assert seqs(jobs) == seqs(expected), (ordered, now, limit, busy)
            if len(jobs) < limit:
                taken = [*busy, *(job.key for job in jobs)]
                assert following == await queue.next_due(SUB, taken, ordered=ordered)
    # Spelled out: unordered, 1 and 3 are due at T0 and 2 is next, at 10 s.
    jobs, following = await queue.take(SUB, T0, 10)
    assert (seqs(jobs), following) == ([1, 3, 5], at(10))
    # Ordered: 5 waits behind 2 (key b), which is due at 10 s.
    jobs, following = await queue.take(SUB, T0, 10, ordered=True)
    assert (seqs(jobs), following) == ([1], at(10))
    assert await queue.take(SUB, T0, 0) == ([], None)


async def test_replays_are_copies_beside_the_live_rows(queue: DeliveryQueue) -> None:
    await queue.enqueue(SUB, [msg(1, "a"), msg(2, "a")], T0)
    replay = await queue.start_replay(SUB, 1, None, T0)
    assert replay > 0
    assert await queue.enqueue(SUB, [msg(1, "a")], T0, replay=replay) == 1
    assert await queue.enqueue(SUB, [msg(1, "a")], T0, replay=replay) == 0
    await queue.finish_replay(replay, 1, T0)
    jobs = await queue.due(SUB, T0, 10)
    assert [(j.key.seq, j.key.replay) for j in jobs] == [(1, 0), (1, replay), (2, 0)]
    assert str(jobs[1].key) == f"{SUB}:1:{replay}"
    ordered = await queue.due(SUB, T0, 10, ordered=True)
    assert [(j.key.seq, j.key.replay) for j in ordered] == [(1, 0)]
    assert (await queue.get(f"{SUB}:1:{replay}")).replayed
    assert await queue.start_replay(SUB, T0, at(60), T0) > replay


async def test_a_replay_record_counts_its_copies_by_state(queue: DeliveryQueue) -> None:
    await queue.enqueue(SUB, [msg(1), msg(2), msg(3)], T0)
    replay = await queue.start_replay(SUB, 1, 3, T0)
    under_way = await queue.replay_record(replay)
    assert under_way is not None
    assert (under_way.subscription, under_way.finished_at, under_way.enqueued) == (SUB, None, None)
    assert await queue.enqueue(SUB, [msg(1), msg(2), msg(3)], T0, replay=replay) == 3
    await queue.finish_replay(replay, 3, at(1))
    await queue.complete(
        [
            Outcome(JobKey(SUB, 1, replay), "delivered", 1, status=204),
            Outcome(JobKey(SUB, 2, replay), "dead", 1, status=400, error="HTTP 400"),
            Outcome(JobKey(SUB, 1), "delivered", 1, status=204),  # a live row: not counted
        ],
        at(2),
    )
    found = await queue.replay_record(replay)
    assert found is not None
    assert (found.finished_at, found.enqueued) == (at(1), 3)
    assert (found.pending, found.dead, found.done) == (1, 1, 1)
    assert await queue.replay_record(replay + 1000) is None


async def test_dead_letters_list_retry_and_discard(queue: DeliveryQueue) -> None:
    await queue.enqueue(SUB, [msg(n) for n in range(1, 6)], T0)
    await queue.enqueue("alpha", [msg(9)], T0)
    dead = [Outcome(JobKey(SUB, n), "dead", 3, status=500) for n in range(1, 5)]
    await queue.complete([*dead, Outcome(JobKey("alpha", 9), "dead", 1)], T0)
    first = await queue.list_dead(SUB, limit=3)
    assert [d.id for d in first.items] == [f"{SUB}:1", f"{SUB}:2", f"{SUB}:3"]
    assert first.next_cursor == f"{SUB}:3"
    second = await queue.list_dead(SUB, limit=3, cursor=first.next_cursor)
    assert [d.id for d in second.items] == [f"{SUB}:4"]
    assert second.next_cursor is None
    everything = await queue.list_dead(limit=10)
    assert everything.items[0].id == "alpha:9"
    assert len(everything.items) == 5

    assert await queue.retry([f"{SUB}:1", JobKey(SUB, 5)], at(10)) == 1  # 5 is not dead
    row = await queue.get(f"{SUB}:1")
    assert (row.state, row.attempt, row.next_at) == ("pending", 0, at(10))
    assert await queue.discard([f"{SUB}:2", f"{SUB}:5"]) == 1  # pending rows stay
    assert await queue.retry_all(SUB, at(20)) == 2
    assert await queue.dlq_depth(SUB) == 0
    assert await queue.depth(SUB) == 4
    assert await queue.dlq_depth("alpha") == 1


async def test_an_event_handed_out_again_after_delivery_is_not_queued_again(
    queue: DeliveryQueue,
) -> None:
    """A node enqueues a batch and dies before acking it; the next node delivers the rows;
    the bus then hands the batch out again. Nothing of it is sent twice, and events of the
    batch never taken (or newer ones pulled first) are still queued."""
    batch = [msg(n, f"k{n % 2}") for n in range(1, 6)]
    assert await queue.enqueue(SUB, batch, T0) == 5
    # The next node delivers 1-3 and drops 4; 5 is still pending.
    jobs = await queue.due(SUB, T0, 4)
    outcomes = [Outcome(j.key, "delivered", 1, status=204) for j in jobs[:3]]
    await queue.complete([*outcomes, Outcome(jobs[3].key, "dropped", 3, status=500)], at(1))
    assert seqs(await queue.due(SUB, at(1), 10)) == [5]
    # It pulls newer events first, then the bus hands the dead node's batch out again, with
    # events that node never took (6, 7): a "highest seq seen" would lose those.
    assert await queue.enqueue(SUB, [msg(8, "k0"), msg(9, "k1")], at(2)) == 2
    assert await queue.enqueue(SUB, [*batch, msg(6, "k0"), msg(7, "k1")], at(3)) == 2
    assert seqs(await queue.due(SUB, at(3), 10)) == [5, 8, 9, 6, 7]  # by due time
    assert seqs(await queue.due(SUB, at(3), 10, ordered=True)) == [5, 6]
    assert await queue.next_due(SUB, [JobKey(SUB, s) for s in (5, 6, 7, 8, 9)]) is None
    assert (await queue.depth(SUB), await queue.dlq_depth(SUB)) == (5, 0)
    assert (await queue.list_dead(SUB)).items == []
    for seq in (1, 4):
        with pytest.raises(NotFound):
            await queue.get(JobKey(SUB, seq))
    # Tombstones are never dead letters: retrying or discarding them does nothing.
    assert await queue.retry([JobKey(SUB, 1)], at(4)) == 0
    assert await queue.retry_all(SUB, at(4)) == 0
    assert await queue.discard([JobKey(SUB, 1)]) == 0
    assert await queue.enqueue(SUB, batch[:1], at(5)) == 0
    # A replay sends them again on purpose.
    replay = await queue.start_replay(SUB, 1, 3, at(5))
    assert await queue.enqueue(SUB, batch[:3], at(5), replay=replay) == 3
    assert await queue.depth(SUB) == 8


async def test_sweep_removes_only_tombstones_past_their_retention(queue: DeliveryQueue) -> None:
    await queue.enqueue(SUB, [msg(n) for n in range(1, 7)], T0)
    await queue.enqueue("other", [msg(1)], T0)
    await queue.complete([Outcome(JobKey(SUB, n), "delivered", 1) for n in (1, 2, 3)], at(10))
    await queue.complete([Outcome(JobKey(SUB, 4), "dropped", 1)], at(20))
    await queue.complete([Outcome(JobKey(SUB, 5), "dead", 1)], at(10))
    await queue.complete([Outcome(JobKey("other", 1), "delivered", 1)], at(10))
    assert await queue.sweep(SUB, at(10), 10) == 0  # made at 10: not before it
    assert await queue.sweep(SUB, at(15), 2) == 2  # a bounded batch
    assert await queue.sweep(SUB, at(15), 10) == 1
    assert await queue.sweep(SUB, at(15), 10) == 0
    # Swept keys are forgotten; the younger tombstone, the pending and the dead row are not.
    assert await queue.enqueue(SUB, [msg(n) for n in range(1, 7)], at(30)) == 3
    assert seqs(await queue.due(SUB, at(30), 10)) == [6, 1, 2, 3]
    assert (await queue.get(JobKey(SUB, 5))).state == "dead"
    assert await queue.sweep("other", at(15), 10) == 1


async def test_fenced_writes_take_effect_only_under_the_current_lease(
    queue: DeliveryQueue, store_url: str
) -> None:
    lease = f"subscription:{SUB}"
    with open_store(store_url) as store:
        first = store.leases.acquire(lease, "node-a", 30)
        assert first is not None
        mine = Fence(lease, "node-a", first.token)
        assert await queue.enqueue(SUB, [msg(1), msg(2)], T0, fence=mine) == 2
        await queue.complete([Outcome(JobKey(SUB, 1), "delivered", 1)], at(1), fence=mine)
        with pytest.raises(LeaseLost, match="not held by node-b"):
            await queue.enqueue(SUB, [msg(3)], T0, fence=Fence(lease, "node-b", first.token))
        # node-b takes the lease over: node-a's token is stale from then on.
        assert store.leases.release(first)
        second = store.leases.acquire(lease, "node-b", 30)
        assert second is not None
        assert second.token > first.token
    with pytest.raises(LeaseLost, match=lease):
        await queue.enqueue(SUB, [msg(3)], at(2), fence=mine)
    with pytest.raises(LeaseLost):
        await queue.complete(
            [Outcome(JobKey(SUB, 2), "delivered", 1), Outcome(JobKey(SUB, 1), "retry", 1)],
            at(2),
            fence=mine,
        )
    # Nothing of the refused writes happened; unfenced writes (no leases) go on as ever.
    assert seqs(await queue.due(SUB, at(2), 10)) == [2]
    with pytest.raises(NotFound):
        await queue.get(JobKey(SUB, 1))
    assert await queue.enqueue(SUB, [msg(3)], at(2)) == 1
    theirs = Fence(lease, "node-b", second.token)
    await queue.complete([Outcome(JobKey(SUB, 2), "delivered", 1)], at(3), fence=theirs)
    assert seqs(await queue.due(SUB, at(3), 10)) == [3]


async def test_disabled_state_survives_a_new_connection(
    queue: DeliveryQueue, store_url: str
) -> None:
    assert await queue.disabled() == {}
    await queue.disable(SUB, "receiver answered 410 Gone", T0)
    await queue.disable(SUB, "a later reason", at(5))  # the first stays
    async with open_queue(store_url) as again:
        state = (await again.disabled())[SUB]
    assert (state.at, state.reason) == (T0, "receiver answered 410 Gone")
    assert await queue.enable(SUB)
    assert not await queue.enable(SUB)
    assert await queue.disabled() == {}


async def test_big_batches_go_through(queue: DeliveryQueue) -> None:
    batch = [msg(n, f"k{n % 7}") for n in range(1, 2001)]
    assert await queue.enqueue(SUB, batch, T0) == 2000
    jobs = await queue.due(SUB, T0, 2000)
    await queue.complete([Outcome(j.key, "delivered", 1) for j in jobs], T0)
    assert await queue.depth(SUB) == 0


async def test_unmigrated_database_says_so(store_url: str) -> None:
    queue = open_queue(store_url)
    with pytest.raises(StoreError, match="migrate"):
        await queue.open()
    await queue.close()


def test_memory_and_unknown_urls_are_refused() -> None:
    with pytest.raises(ConfigError, match="database file"):
        open_queue("sqlite:///:memory:")
    with pytest.raises(ConfigError, match="unsupported"):
        open_queue("mysql://db/x")


async def test_sqlite_enqueue_is_synced_before_the_bus_is_acked(tmp_path: Path) -> None:
    """The bus forgets events once they are acked after ``enqueue``: on SQLite that commit is
    synced (``synchronous = FULL``) even though the queue's other writes are not."""
    url = f"sqlite:///{tmp_path / 'interlink.db'}"
    with open_store(url) as store:
        store.migrate()
    async with open_queue(url) as opened:
        assert isinstance(opened, SQLiteDeliveryQueue)
        conn = opened._db()
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        assert await opened.enqueue(SUB, [msg(1), msg(2)], T0) == 2
        await opened.complete([Outcome(JobKey(SUB, 1), "delivered", 1, status=204)], at(1))
        conn.set_trace_callback(None)
    commits = [i for i, s in enumerate(statements) if s == "COMMIT"]
    assert len(commits) == 2
    enqueued, completed = statements[: commits[0] + 1], statements[commits[0] + 1 :]
    assert enqueued[0] == "PRAGMA synchronous = FULL"
    assert statements[commits[0] + 1] == "PRAGMA synchronous = NORMAL"
    assert "PRAGMA synchronous = FULL" not in completed
