"""Polling and queue triggers against a real store (SQLite and PostgreSQL): runs recorded once
per item, the cursor stored only after, a process killed between the two, two nodes on one
store, a deposed node's checkpoint refused, ack after record, back-off on failures."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlink.errors import ConfigError, LeaseLost, StoreUnavailable
from interlink.estate.kinds.flow import Flow
from interlink.flows.engine import FlowEngine
from interlink.flows.runs import FlowRun, FlowRuns
from interlink.flows.triggers import (
    LEASE_PREFIX,
    Consumer,
    Fence,
    FlowTriggers,
    Poller,
    TriggerCheckpoints,
    TriggerSource,
    item_run_id,
)
from interlink.leases import LeaseKeeper
from interlink.runtime.flows import FlowRunner
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.runtime.snapshot import Snapshot
from interlink.store import Store, open_store
from tests.integration.flows.trigger_sources import Queue, Settings, Table, flows, no_targets

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[3]
TRIGGER = "ingest:rows"


def engine(store: Store) -> FlowEngine:
    return FlowEngine(FlowRuns(store.db), flows, no_targets)


def runs(store: Store) -> list[FlowRun]:
    return FlowRuns(store.db).latest("ingest", 1000)


def numbers(store: Store) -> list[int]:
    return sorted(run.input["n"] for run in runs(store))


def poller(store: Store, table: Any, start: Any = None, **kwargs: Any) -> Poller:
    kwargs.setdefault("interval", 0.01)
    kwargs.setdefault("retry_initial", 0.01)
    return Poller(
        "ingest",
        "rows",
        table,
        start or engine(store).start,
        TriggerCheckpoints(store.db),
        **kwargs,
    )


def stored(store: Store) -> Any:
    """The trigger's stored cursor (None before its first checkpoint)."""
    found = TriggerCheckpoints(store.db).get(TRIGGER)
    return None if found is None else found.cursor


def recorded(store: Store) -> int:
    found = TriggerCheckpoints(store.db).get(TRIGGER)
    return 0 if found is None else found.recorded


async def until(condition: Any) -> None:
    """Let the triggers' loops run until ``condition()`` holds (they pass every 10 ms)."""
    for _ in range(1500):
        if await asyncio.to_thread(condition):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


# --- polling -----------------------------------------------------------------------------------


async def test_each_item_is_recorded_once_over_many_batches_and_then_the_cursor_stored(
    store: Store,
) -> None:
    table = Table()
    table.add(25)  # three rows share each timestamp, so batches of 4 end mid-timestamp
    checkpoints = TriggerCheckpoints(store.db)
    flows_engine = engine(store)
    seen: list[tuple[int, Any]] = []  # (item, the checkpoint's cursor when its run was recorded)

    async def start(flow: str, input: Any, trigger: str, run_id: str) -> str:
        found = await asyncio.to_thread(checkpoints.get, TRIGGER)
        seen.append((input["n"], None if found is None else found.cursor))
        return await flows_engine.start(flow, input, trigger, run_id)

    polling = poller(store, table, start, limit=4)
    await polling.start()
    try:
        await until(lambda: numbers(store) == list(range(25)))
        await until(lambda: stored(store) == {"at": t(8), "id": 24})
        table.add(5, 25)  # new rows after the cursor: their runs only
        await until(lambda: numbers(store) == list(range(30)))
        await until(lambda: stored(store) == cur(29))
    finally:
        await polling.close()
    assert {run.id for run in runs(store)} == {item_run_id(TRIGGER, f"{n}@1") for n in range(30)}
    run = next(r for r in runs(store) if r.input["n"] == 7)
    assert (run.trigger, run.input) == ("poll:rows:7@1", {"n": 7, "id": 7})
    # The cursor stored when an item's run was recorded was always before that item.
    for n, cursor in seen:
        assert cursor is None or cursor["id"] < n
    checkpoint = checkpoints.get(TRIGGER)
    assert checkpoint is not None
    assert (checkpoint.cursor, checkpoint.recorded, checkpoint.holder) == (
        {"at": t(9), "id": 29},
        30,
        "local",
    )
    # Batches of 4, each from the previous one's cursor; nothing read twice.
    assert table.cursors[:3] == [None, {"at": t(1), "id": 3}, {"at": t(2), "id": 7}]


def t(second: int) -> str:
    return f"2026-01-01T00:00:{second:02d}Z"


async def test_a_failure_to_checkpoint_polls_the_batch_again_and_records_nothing_twice(
    store: Store,
) -> None:
    class Flaky(TriggerCheckpoints):
        fail = 1

        def save(self, *args: Any) -> None:
            if self.fail and args[2] and args[1]["id"] == 7:  # after batch 2 was recorded
                self.fail -= 1
                raise StoreUnavailable("the store went away")
            super().save(*args)

    table = Table()
    table.add(12)
    polling = Poller(
        "ingest",
        "rows",
        table,
        engine(store).start,
        Flaky(store.db),
        interval=0.01,
        limit=4,
        retry_initial=0.01,
    )
    await polling.start()
    try:
        await until(lambda: numbers(store) == list(range(12)))
        await until(lambda: stored(store) == cur(11))
    finally:
        await polling.close()
    assert recorded(store) == 12  # the batch polled twice counted once: checkpointed once
    # Batch 2 was polled again from batch 1's cursor; its items' runs were found, not doubled.
    assert table.cursors[:4] == [None, {"at": t(1), "id": 3}, {"at": t(1), "id": 3}, cur(7)]
    assert len(runs(store)) == 12


def cur(n: int) -> dict[str, Any]:
    return {"at": t(n // 3), "id": n}


KILLED = """
import asyncio, os, signal, sys
from interlink.store import open_store
from interlink.flows.triggers import Poller, TriggerCheckpoints
from interlink.flows.engine import FlowEngine
from interlink.flows.runs import FlowRuns
from tests.integration.flows.trigger_sources import Table, flows as specs, no_targets

async def main():
    with open_store(sys.argv[1]) as store:
        flows, table, recorded = FlowEngine(FlowRuns(store.db), specs, no_targets), Table(), []
        table.add(25)

        async def start(flow, input, trigger, run_id):
            run = await flows.start(flow, input, trigger, run_id)
            recorded.append(run)
            if len(recorded) == 8:  # batch 2's runs recorded, its cursor not yet stored
                os.kill(os.getpid(), signal.SIGKILL)
            return run

        await Poller("ingest", "rows", table, start, TriggerCheckpoints(store.db), limit=4,
                     interval=0.01).start()
        await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_a_process_killed_between_recording_and_checkpointing_loses_and_doubles_nothing(
    store: Store, store_url: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", KILLED, store_url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr.decode()
    assert numbers(store) == list(range(8))
    checkpoint = TriggerCheckpoints(store.db).get(TRIGGER)
    assert checkpoint is not None
    assert (checkpoint.cursor, checkpoint.recorded) == (cur(3), 4)
    table = Table()  # the restarted node
    table.add(25)
    polling = poller(store, table, limit=4)
    await polling.start()
    try:
        await until(lambda: numbers(store) == list(range(25)))
    finally:
        await polling.close()
    assert table.cursors[0] == cur(3)  # batch 2 polled again, its runs found
    assert len(runs(store)) == 25


async def test_a_failing_source_backs_off_with_one_line_a_streak_and_recovers(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    table = Table(fail=4)
    table.add(6)
    polling = poller(store, table)
    with caplog.at_level(logging.INFO, logger="interlink.flows.triggers"):
        await polling.start()
        try:
            await until(lambda: numbers(store) == list(range(6)))
            await until(lambda: polling.backoff.failures == 0)  # the streak ended
        finally:
            await polling.close()
    lines = [r for r in caplog.records if r.name == "interlink.flows.triggers"]
    warnings = [r.getMessage() for r in lines if r.levelno == logging.WARNING]
    assert warnings == [
        "Flow/ingest trigger rows: polling failed: ConnectionError: connection refused; "
        "trying again, backing off up to 60s"
    ]
    assert "Flow/ingest trigger rows works again after 4 failed tries" in [
        r.getMessage() for r in lines
    ]
    assert all(r.exc_info is None for r in lines)


async def test_an_item_the_flow_refuses_holds_the_cursor_before_it(store: Store) -> None:
    table = Table()
    table.add(6)
    refused = {4}
    flows_engine = engine(store)

    async def start(flow: str, input: Any, trigger: str, run_id: str) -> str:
        if input["n"] in refused:
            raise ConfigError("Flow/ingest: input refused")
        return await flows_engine.start(flow, input, trigger, run_id)

    polling = poller(store, table, start, limit=4)
    await polling.start()
    try:
        await until(lambda: len(table.cursors) >= 4)  # batch 2 tried more than once
        assert numbers(store) == [0, 1, 2, 3, 5]
        assert stored(store) == cur(3)
        refused.clear()  # the flow fixed: the trigger goes on from there
        await until(lambda: numbers(store) == list(range(6)))
        await until(lambda: stored(store) == cur(5))
    finally:
        await polling.close()


# --- fencing and two nodes ---------------------------------------------------------------------


async def test_a_checkpoint_write_under_a_lost_lease_is_refused(store: Store) -> None:
    checkpoints = TriggerCheckpoints(store.db)
    lease = LEASE_PREFIX + TRIGGER
    first = store.leases.acquire(lease, "a", 0.2)
    assert first is not None
    checkpoints.save(TRIGGER, {"id": 1}, 1, Fence(lease, "a", first.token), "a")
    await asyncio.sleep(0.3)  # a's lease lapses; b takes it
    second = store.leases.acquire(lease, "b", 10)
    assert second is not None
    assert second.token > first.token
    checkpoints.save(TRIGGER, {"id": 9}, 8, Fence(lease, "b", second.token), "b")
    with pytest.raises(LeaseLost, match="another node holds the trigger now"):
        checkpoints.save(TRIGGER, {"id": 5}, 4, Fence(lease, "a", first.token), "a")
    with pytest.raises(LeaseLost):  # nor without a lease, over a fenced write
        checkpoints.save(TRIGGER, {"id": 5}, 4, None, "local")
    checkpoint = checkpoints.get(TRIGGER)
    assert checkpoint is not None
    assert (checkpoint.cursor, checkpoint.token, checkpoint.holder) == (
        {"id": 9},
        second.token,
        "b",
    )
    assert checkpoint.recorded == 9


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 14, 9, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clocked(pg_url: str) -> Iterator[tuple[Store, Clock]]:
    clock = Clock()
    with open_store(pg_url, clock=clock) as store:
        store.migrate()
        yield store, clock


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_on_a_shared_store_one_node_polls_and_another_takes_over_from_its_cursor(
    clocked: tuple[Store, Clock],
) -> None:
    store, clock = clocked
    shared = Table()
    shared.add(10)
    on_a, on_b = Table(shared.rows), Table(shared.rows)  # one table, read by two nodes
    # Long local deadlines: lease expiry is judged by the store's clock, moved by hand, and
    # rounds are run by hand.
    a = LeaseKeeper(store.leases, "a", ttl=10, margin=-3600)
    b = LeaseKeeper(store.leases, "b", ttl=10, margin=-3600)
    polling_a = poller(store, on_a, keeper=a, limit=4)
    polling_b = poller(store, on_b, keeper=b, limit=4)
    await polling_a.start()
    await polling_b.start()
    try:
        await a.round()
        await b.round()
        assert (polling_a.active, polling_b.active) == (True, False)
        await until(lambda: numbers(store) == list(range(10)))
        await until(lambda: stored(store) == cur(9))
        assert on_b.cursors == []  # b stood by: it never polled
        # a stops renewing (its node hangs; its loop still runs): b takes the lease once it
        # lapsed in the store, not before.
        clock.advance(9)
        await b.round()
        assert not polling_b.active
        clock.advance(2)
        await b.round()
        assert polling_b.active
        await until(lambda: on_b.cursors != [])
        assert on_b.cursors[0] == cur(9)  # from a's stored cursor
        shared.add(5, 10)
        await until(lambda: numbers(store) == list(range(15)))
        # a polled the new rows too and recorded nothing new; its checkpoint was refused.
        await until(lambda: not polling_a.active)
        await a.round()
        assert a.held(polling_a.lease) is None
        await until(lambda: stored(store) == cur(14))
        checkpoint = TriggerCheckpoints(store.db).get(TRIGGER)
        assert checkpoint is not None
        assert checkpoint.holder == "b"
        assert len(runs(store)) == 15
    finally:
        await polling_a.close()
        await polling_b.close()
        await a.stop()
        await b.stop()


# --- consuming ---------------------------------------------------------------------------------


async def test_a_message_is_acked_only_once_its_run_is_recorded(store: Store) -> None:
    found: list[tuple[str, bool]] = []
    flow_runs = FlowRuns(store.db)

    async def on_ack(key: str) -> None:
        run_id = item_run_id("ingest:queue", key)
        found.append((key, await asyncio.to_thread(_exists, flow_runs, run_id)))

    queue = Queue(on_ack)
    for n in range(5):
        queue.put(f"m{n}", {"n": n})
    queue.put("m2", {"n": 2})  # handed out again: its ack was lost
    consumer = Consumer("ingest", "queue", queue, engine(store).start, retry_initial=0.01)
    await consumer.start()
    try:
        await until(lambda: len(found) == 6)
    finally:
        await consumer.close()
    assert found == [(f"m{n}", True) for n in range(5)] + [("m2", True)]  # in order, one by one
    assert numbers(store) == list(range(5))
    assert runs(store)[0].trigger.startswith("queue:queue:m")


async def test_a_consumer_whose_broker_is_away_backs_off_and_goes_on(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    queue = Queue()
    queue.fail = 3
    for n in range(3):
        queue.put(f"m{n}", {"n": n})
    consumer = Consumer("ingest", "queue", queue, engine(store).start, retry_initial=0.01)
    with caplog.at_level(logging.INFO, logger="interlink.flows.triggers"):
        await consumer.start()
        try:
            await until(lambda: sum(1 for what, _ in queue.log if what == "acked") == 3)
        finally:
            await consumer.close()
    lines = [r for r in caplog.records if r.name == "interlink.flows.triggers"]
    assert [r.getMessage() for r in lines if r.levelno == logging.WARNING] == [
        "Flow/ingest trigger queue: receiving failed: ConnectionError: broker unreachable; "
        "trying again, backing off up to 60s"
    ]
    assert all(r.exc_info is None for r in lines)
    assert numbers(store) == [0, 1, 2]


@pytest.mark.parametrize("placed", [False, True], ids=["acks-sent", "acks-placed"])
async def test_messages_in_flight_together_are_each_acked_after_their_run(
    store: Store, placed: bool
) -> None:
    flow_runs = FlowRuns(store.db)
    flows_engine = engine(store)
    found: list[tuple[str, bool]] = []
    failures = {f"m{n}": 1 for n in range(0, 40, 7)}  # some fail once: nacked, handed out again

    async def on_ack(key: str) -> None:
        run_id = item_run_id("ingest:queue", key)
        found.append((key, await asyncio.to_thread(_exists, flow_runs, run_id)))

    async def start(flow: str, input: Any, trigger: str, run_id: str) -> str:
        key = trigger.rsplit(":", 1)[1]
        if failures.get(key):
            failures[key] -= 1
            raise StoreUnavailable("the store went away")
        return await flows_engine.start(flow, input, trigger, run_id)

    queue = Queue(on_ack, placed=placed)
    for n in range(40):
        queue.put(f"m{n}", {"n": n})
    consumer = Consumer("ingest", "queue", queue, start, concurrency=8, retry_initial=0.01)
    await consumer.start()
    try:
        await until(lambda: len(found) == 40)
    finally:
        await consumer.close()
    assert sorted(found) == sorted((f"m{n}", True) for n in range(40))
    nacked = [key for what, key in queue.log if what == "nacked"]
    assert sorted(nacked) == sorted(failures)
    assert numbers(store) == list(range(40))
    # Acks and nacks go in the order the messages came, as MQTT's PUBACKs must.
    received = [key for what, key in queue.log if what == "received"]
    settled = [key for what, key in queue.log if what in ("acked", "nacked")]
    assert settled == received


async def test_a_begun_run_frees_its_slot_and_its_message_is_acked_once_recorded(
    store: Store,
) -> None:
    # ``begin`` (the runner's deferred runs): the next message is begun while the one before it
    # still waits for its record, and each is acked only after its own, in order.
    records: dict[str, asyncio.Future[object]] = {}
    begun: list[str] = []

    async def start(flow: str, input: Any, trigger: str, run_id: str) -> str:
        raise AssertionError("a consumer with begin does not use start")

    async def begin(flow: str, input: Any, trigger: str, run_id: str) -> Awaitable[object]:
        key = trigger.rsplit(":", 1)[1]
        begun.append(key)
        records[key] = asyncio.get_running_loop().create_future()
        return records[key]

    queue = Queue()
    for n in range(3):
        queue.put(f"m{n}", {"n": n})
    consumer = Consumer("ingest", "queue", queue, start, begin=begin, retry_initial=0.01)
    await consumer.start()
    try:
        await until(lambda: begun == ["m0", "m1", "m2"])  # concurrency 1, none recorded yet
        assert [what for what, _ in queue.log if what == "acked"] == []
        records["m1"].set_result(None)
        await asyncio.sleep(0.05)
        assert [what for what, _ in queue.log if what == "acked"] == []  # m0 comes first
        records["m0"].set_result(None)
        await until(lambda: [k for what, k in queue.log if what == "acked"] == ["m0", "m1"])
        records["m2"].set_exception(StoreUnavailable("the store went away"))
        await until(lambda: ("nacked", "m2") in queue.log)
    finally:
        await consumer.close()


def _exists(runs: FlowRuns, run_id: str) -> bool:
    try:
        runs.get(run_id)
    except Exception:
        return False
    return True


async def test_a_message_whose_run_cannot_be_recorded_is_nacked_and_comes_again(
    store: Store,
) -> None:
    flows_engine = engine(store)
    failures = {"m1": 2}

    async def start(flow: str, input: Any, trigger: str, run_id: str) -> str:
        key = trigger.rsplit(":", 1)[1]
        if failures.get(key):
            failures[key] -= 1
            raise StoreUnavailable("the store went away")
        return await flows_engine.start(flow, input, trigger, run_id)

    queue = Queue()
    for n in range(3):
        queue.put(f"m{n}", {"n": n})
    consumer = Consumer("ingest", "queue", queue, start, retry_initial=0.01)
    await consumer.start()
    try:
        await until(lambda: sum(1 for what, _ in queue.log if what == "acked") == 3)
    finally:
        await consumer.close()
    of_m1 = [what for what, key in queue.log if key == "m1"]
    assert of_m1 == ["received", "nacked", "received", "nacked", "received", "acked"]
    assert numbers(store) == [0, 1, 2]


# --- the registry ------------------------------------------------------------------------------


async def test_the_registry_starts_new_keeps_unchanged_restarts_changed_and_stops_removed(
    store: Store,
) -> None:
    triggers = FlowTriggers(engine(store).start, TriggerCheckpoints(store.db))
    table = Table()
    table.add(3)
    rows = TriggerSource("ingest", "rows", table, interval=0.01)
    orders = TriggerSource("ingest", "orders", Settings("orders", (100, 101)), interval=0.01)
    try:
        applied = await triggers.apply([rows, orders])
        assert (applied.started, applied.kept) == (["ingest:orders", "ingest:rows"], [])
        await until(lambda: numbers(store) == [0, 1, 2, 100, 101])
        kept = triggers.running["ingest:rows"]
        same = TriggerSource("ingest", "orders", Settings("orders", (100, 101)), interval=0.01)
        wider = TriggerSource("ingest", "orders", Settings("orders", (100, 101, 102)), 0.01)
        applied = await triggers.apply([rows, same])
        assert (applied.kept, applied.started, applied.stopped) == (
            ["ingest:orders", "ingest:rows"],
            [],
            [],
        )
        assert triggers.running["ingest:rows"] is kept
        applied = await triggers.apply([wider])
        assert (applied.stopped, applied.restarted) == (["ingest:rows"], ["ingest:orders"])
        assert table.closed
        # The restarted trigger adds the new row's run only.
        await until(lambda: numbers(store) == [0, 1, 2, 100, 101, 102])
        with pytest.raises(ConfigError, match="given twice"):
            await triggers.apply([wider, wider])
        with pytest.raises(ConfigError, match=r"neither poll\(\) nor receive\(\)"):
            await triggers.apply([TriggerSource("ingest", "odd", object())])  # type: ignore[arg-type]
        assert list(triggers.running) == ["ingest:orders"]
    finally:
        await triggers.close()
    assert triggers.running == {}


# --- on a serving node -------------------------------------------------------------------------

ESTATE = """apiVersion: interlink/v1
kind: Platform
metadata: {name: platform}
spec:
  store: {url: "${env:TRIGGER_TEST_STORE}"}
---
apiVersion: interlink/v1
kind: Team
metadata: {name: ops}
spec: {}
"""
FLOW = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: %s, owner: ops}
spec:
  steps:
    - {name: stamp, type: map, expression: '$merge([$, {"ran": true}])'}
"""


async def test_a_serving_node_runs_the_triggers_each_revision_declares(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIGGER_TEST_STORE", store_url)
    estate = tmp_path / "estate.yaml"
    estate.write_text(ESTATE + FLOW % "ingest", encoding="utf-8")
    runtime = Runtime.open(ServeSettings(tmp_path, lease_ttl=2.0))
    tables: dict[str, Table] = {}

    def declare(snapshot: Snapshot) -> list[TriggerSource]:
        """One table per Flow of the revision, as a connector reads its trigger fields."""
        wanted = []
        for flow in snapshot.estate.of(Flow):
            table = tables.setdefault(flow.metadata.name, Table())
            wanted.append(TriggerSource(flow.metadata.name, "rows", table, interval=0.01))
        return wanted

    runner = FlowRunner(runtime)
    runner.start()
    flow_runs = FlowRuns(runtime.store.db)

    def completed(flow: str) -> list[int]:
        return sorted(r.input["n"] for r in flow_runs.latest(flow) if r.status == "completed")

    try:
        tables["ingest"] = Table()
        tables["ingest"].add(3)
        await runner.start_triggers(declare)
        assert runner.triggers is not None
        await until(lambda: completed("ingest") == [0, 1, 2])  # recorded, then run here
        before = runner.triggers.running["ingest:rows"]
        estate.write_text(ESTATE + FLOW % "ingest" + FLOW % "orders", encoding="utf-8")
        tables["orders"] = Table()
        tables["orders"].add(2)
        assert (await runtime.reload("test")).changed
        assert sorted(runner.triggers.running) == ["ingest:rows", "orders:rows"]
        assert runner.triggers.running["ingest:rows"] is before  # unchanged: kept running
        await until(lambda: completed("orders") == [0, 1])
        estate.write_text(ESTATE + FLOW % "orders", encoding="utf-8")
        assert (await runtime.reload("test")).changed
        assert list(runner.triggers.running) == ["orders:rows"]
        assert tables["ingest"].closed
    finally:
        await runner.close()
        runtime.close()
    assert tables["orders"].closed
