"""Flow run history against a real store (SQLite and PostgreSQL): large payloads stored by
reference and loaded back, the size caps, and the retention purge under a lease. Time is the
store's clock, moved by hand."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlink.flows.control import RunConflict, RunControl
from interlink.flows.engine import FlowEngine
from interlink.flows.payloads import PayloadLimits, PayloadTooLarge, is_ref, size
from interlink.flows.retention import LEASE, RetentionJob, RetentionSettings, RunRetention
from interlink.flows.runs import FlowRuns, dump
from interlink.leases import LeaseKeeper
from interlink.store import Store, open_store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.flows.test_engine import engine_for, requests_to, write_estate

LIMITS = "  flows: {inlinePayloadBytes: 1024, maxPayloadBytes: 65536}"
FLOWS = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: bulky, owner: ops}
spec:
  steps:
    - {name: pad, type: map, expression: '{"blob": $pad("", n, "x"), "n": n}'}
    - {name: small, type: map, expression: '{"n": n}'}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: resumable, owner: ops}
spec:
  steps:
    - {name: pad, type: map, expression: '{"blob": $pad("", n, "x"), "n": n}'}
    - {name: grab, type: call, system: crm, path: /grab, body: '{"blob": blob}'}
    - {name: hold, type: call, system: crm, path: /hold, body: '{"n": n}'}
    - name: measure
      type: map
      expression: '{"message": $length(blob), "kept": $length($steps.grab.body)}'
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: lines, owner: ops}
spec:
  steps:
    - {name: each, type: split, items: 'lines'}
    - {name: tag, type: map, expression: '$merge([$, {"done": true}])'}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: once, owner: ops}
spec:
  steps:
    - {name: once, type: idempotency, key: id, window: 1h}
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def forward(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[Store]:
    with open_store(store_url, clock=clock) as opened:
        opened.migrate()
        yield opened


@pytest.fixture
def root(tmp_path: Path, upstream: UpstreamThread) -> Path:
    return write_estate(tmp_path / "estate", upstream.url, FLOWS, LIMITS)


def payload_rows(store: Store, run_id: str) -> int:
    with store.db.session() as session:
        row = session.fetchone("SELECT COUNT(*) FROM flow_payloads WHERE run_id = ?", (run_id,))
    assert row is not None
    return int(row[0])


def run_ids(store: Store) -> set[str]:
    with store.db.session() as session:
        return {str(row[0]) for row in session.fetchall("SELECT id FROM flow_runs", ())}


def go(engine: FlowEngine, flow: str, data: Any) -> Any:
    async def both() -> Any:
        try:
            return await engine.start_and_run(flow, data)
        finally:
            await engine.aclose()

    return asyncio.run(both())


# --- payloads stored by reference ----------------------------------------------------------


def test_a_large_input_and_output_are_kept_by_reference_and_shown_whole_on_request(
    root: Path, store: Store
) -> None:
    data = {"n": 5000, "note": "y" * 3000}
    run = go(engine_for(root, store), "bulky", data)
    assert run.status == "completed", run.error
    assert run.context["message"] == {"n": 5000}

    runs = FlowRuns(store.db)
    stored = runs.get(run.id)
    assert is_ref(stored.input)
    assert stored.input["bytes"] == len(dump(data))
    pad, small = runs.steps(run.id)
    assert is_ref(pad.output)
    assert pad.output["bytes"] == len(dump({"blob": "x" * 5000, "n": 5000}))
    assert small.output == {"n": 5000}  # small: inline as before
    assert stored.context["message"] == {"n": 5000}
    # The input (also the first message) and pad's output (also a message): one row each.
    assert payload_rows(store, run.id) == 2
    whole = runs.payloads.loaded(run.id, [stored.input, pad.output])
    assert whole == [data, {"blob": "x" * 5000, "n": 5000}]


def test_a_resumed_run_loads_what_it_kept_by_reference(
    root: Path, store: Store, store_url: str, upstream: UpstreamThread, clock: Clock
) -> None:
    upstream.hold("/hold")
    engine = engine_for(root, store)

    async def stopped_at_hold() -> str:
        run_id = await engine.start("resumable", {"n": 4000, "note": "z" * 2000})
        task = asyncio.create_task(engine.run(run_id))
        while not requests_to(upstream, "/hold"):
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.aclose()
        return run_id

    run_id = asyncio.run(stopped_at_hold())
    upstream.release("/hold")
    stored = FlowRuns(store.db).get(run_id).context
    assert is_ref(stored["message"])
    assert is_ref(stored["steps"]["grab"])
    clock.forward(minutes=5)  # the stopped engine's lease lapsed
    again = engine_for(root, store)
    (run,) = asyncio.run(again.recover())
    assert run.id == run_id
    assert run.status == "completed", run.error
    # The message and grab's output were loaded back from the store.
    assert run.context["message"] == {"message": 4000, "kept": len('{"blob":""}') + 4000}


def test_a_large_context_keeps_its_largest_entries_apart_until_the_rest_is_small(
    store: Store,
) -> None:
    runs = FlowRuns(store.db, lambda: PayloadLimits(inline=1024, maximum=65_536))
    context: dict[str, Any] = {
        "message": {"m": "m" * 300},
        "steps": {"a": {"a": "a" * 600}, "b": {"b": "b" * 400}, "c": {"c": "c" * 100}},
    }
    with store.db.transaction() as session:
        kept = json.loads(runs.payloads.context(session, "r-1", context))
        # 1,400 bytes in all: the largest entry goes (a), and the rest fits in 1 KiB.
        assert is_ref(kept["steps"]["a"])
        assert kept["message"] == context["message"]
        assert kept["steps"]["b"] == context["steps"]["b"]
        assert len(dump(kept)) <= 1024
        small = {"message": {"m": 1}, "steps": {}}
        assert runs.payloads.context(session, "r-1", small) == dump(small)
    assert payload_rows(store, "r-1") == 1


def test_an_output_over_the_limit_fails_its_step_with_both_sizes(root: Path, store: Store) -> None:
    run = go(engine_for(root, store), "bulky", {"n": 70_000})
    output = len(dump({"blob": "x" * 70_000, "n": 70_000}))
    said = f"output of step pad is {size(output)}, over the 64 KiB limit"
    assert said == "output of step pad is 68.4 KiB, over the 64 KiB limit"
    assert (run.status, run.error) == ("failed", f"step pad failed: {said}")
    (pad,) = FlowRuns(store.db).steps(run.id)
    assert (pad.status, pad.attempts, pad.error, pad.output) == ("failed", 1, said, None)
    assert payload_rows(store, run.id) == 0


def test_an_input_over_the_limit_starts_no_run(root: Path, store: Store) -> None:
    engine = engine_for(root, store)
    with pytest.raises(PayloadTooLarge) as raised:
        asyncio.run(engine.start("bulky", {"note": "y" * 70_000}))
    assert raised.value.status == 413
    assert raised.value.message == "the input is 68.4 KiB, over the 64 KiB limit"
    assert run_ids(store) == set()


def test_a_refused_input_is_recorded_as_a_failed_run_once(root: Path, store: Store) -> None:
    engine = engine_for(root, store)
    run_id = "8d7b4b0c-3f43-4c2b-9a8e-0d6e3f2b4a11"
    reason = "the input is 68.4 KiB, over the 64 KiB limit"
    refused = PayloadTooLarge(reason, 70_000)

    async def twice() -> list[Any]:
        try:
            return [await engine.refuse("bulky", "event:s:e-1", run_id, refused) for _ in "ab"]
        finally:
            await engine.aclose()

    first, again = asyncio.run(twice())
    assert (first.id, first.status, first.error) == (run_id, "failed", reason)
    assert first.input == {"$payload": None, "bytes": 70_000}  # its size, nothing of it kept
    assert (again.status, again.error, again.finished_at) == (
        "failed",
        reason,
        first.finished_at,
    )
    with pytest.raises(RunConflict, match="never started: its input was over the size limit"):
        RunControl(store.db).retry(run_id, "someone", 30)


# --- retention ---------------------------------------------------------------------------------


def retention(store: Store, batch: int = 500) -> RunRetention:
    return RunRetention(store.db, lambda: RetentionSettings(ended=86_400, failed=3 * 86_400), batch)


def test_the_purge_deletes_ended_runs_past_retention_with_all_they_kept(
    root: Path, store: Store, clock: Clock
) -> None:
    done = [go(engine_for(root, store), "bulky", {"n": 2000}) for _ in range(3)]
    split = go(engine_for(root, store), "lines", {"lines": [{"a": 1}, {"a": 2}]})
    failed = go(engine_for(root, store), "bulky", {"n": 70_000})
    keyed = go(engine_for(root, store), "once", {"id": "k-1"})
    pending = asyncio.run(engine_for(root, store).start("bulky", {"n": 1}))
    children = {str(c["run"]) for c in FlowRuns(store.db).steps(split.id)[0].output}
    assert len(children) == 2
    assert [r.status for r in done] == ["completed"] * 3
    assert (split.status, failed.status, keyed.status) == ("completed", "failed", "completed")
    everything = run_ids(store)

    clock.forward(hours=23)
    early = retention(store).purge()  # no run is old enough yet; the key's hour is over
    assert (early.runs, early.keys) == (0, 1)

    clock.forward(hours=2)  # past a day: the ended runs go, with their children and payloads
    purged = retention(store, batch=2).purge()
    gone = {r.id for r in done} | {split.id, keyed.id} | children
    assert run_ids(store) == everything - gone
    assert (purged.runs, purged.payloads, purged.keys) == (5, 3, 0)
    assert purged.batches == 3 + 1 + 1  # 2 + 2 + 1 ended, none failed, no key
    for run_id in gone:
        assert FlowRuns(store.db).steps(run_id) == []
        assert payload_rows(store, run_id) == 0

    clock.forward(days=3)  # failed runs are kept longer; a pending run is never purged
    assert retention(store).purge().runs == 1
    assert run_ids(store) == {pending}


def test_a_purge_stops_between_batches_when_told(root: Path, store: Store, clock: Clock) -> None:
    for _ in range(3):
        go(engine_for(root, store), "bulky", {"n": 10})
    clock.forward(days=2)
    asked: list[int] = []

    def go_on() -> bool:
        asked.append(1)
        return len(asked) <= 1  # one batch, then the lease is gone

    assert retention(store, batch=2).purge(go_on).runs == 2
    assert len(run_ids(store)) == 1


@pytest.mark.anyio
async def test_of_two_nodes_only_the_lease_holder_purges_and_another_takes_over(
    root: Path, store: Store, clock: Clock
) -> None:
    # Long local deadlines: lease expiry is judged by the store's clock, moved by hand.
    a = LeaseKeeper(store.leases, "a", ttl=10, margin=-3600)
    b = LeaseKeeper(store.leases, "b", ttl=10, margin=-3600)
    on_a = RetentionJob(retention(store, batch=2), keeper=a, interval=0.01)
    on_b = RetentionJob(retention(store, batch=2), keeper=b, interval=0.01)
    engine = engine_for(root, store)
    await on_a.start()
    await on_b.start()
    try:
        await a.round()
        await b.round()
        assert (on_a.active, on_b.active) == (True, False)
        assert a.held(LEASE) is not None
        assert b.held(LEASE) is None
        for _ in range(5):
            await engine.start_and_run("bulky", {"n": 10})
        clock.forward(days=2)
        await until(lambda: on_a.purged.runs == 5)
        assert run_ids(store) == set()
        assert on_b.purged.runs == 0

        await on_a.close()  # node a stops: b takes the purge over once the lease lapsed
        clock.forward(seconds=30)
        await b.round()
        assert on_b.active
        await engine.start_and_run("bulky", {"n": 10})
        clock.forward(days=2)
        await until(lambda: on_b.purged.runs == 1)
        assert run_ids(store) == set()
        assert on_a.purged.runs == 5
    finally:
        await on_a.close()
        await on_b.close()
        await a.stop()
        await b.stop()
        await engine.aclose()


async def until(condition: Callable[[], bool]) -> None:
    """Let the purge passes (every 10 ms) run until ``condition()`` holds."""
    for _ in range(1000):
        if await asyncio.to_thread(condition):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")
