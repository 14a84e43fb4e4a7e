"""Operators' actions on runs, on both stores: pages, counts, cancel and retry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlink.errors import ConfigError
from interlink.flows.control import RunConflict, RunControl, RunFilter
from interlink.store import Store, open_store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.flows.test_engine import GONE, SAGA, engine_for, requests_to, write_estate
from tests.integration.flows.test_steps import WAIT


def test_runs_come_a_page_at_a_time_and_are_counted(
    tmp_path: Path,
    store: Store,
    upstream: UpstreamThread,
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    engine = engine_for(root, store)

    async def go() -> list[str]:
        return [(await engine.start_and_run("onboard", {"name": n})).id for n in ("a", "b", "")]

    ids = asyncio.run(go())
    control = RunControl(store.db)
    assert control.counts() == {"onboard": {"completed": 2, "filtered": 1}}
    seen: list[str] = []
    cursor = None
    while True:
        page = control.page("onboard", limit=2, cursor=cursor)
        seen += [r.id for r in page.runs]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 3
    assert [r.id for r in control.page(status="filtered").runs] == [ids[2]]
    assert control.page("other").runs == []
    with pytest.raises(ConfigError, match="cursor"):
        control.page(cursor="zz")


def test_a_compensated_run_retries_from_its_first_step(
    tmp_path: Path,
    store: Store,
    upstream: UpstreamThread,
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    engine = engine_for(root, store)
    broken = write_estate(
        tmp_path / "broken",
        upstream.url,
        SAGA.replace("system: crm\n      path: /notify", "system: gone\n      path: /notify")
        + GONE,
    )
    control = RunControl(store.db)

    async def go() -> None:
        upstream.fail_next(1, 400)  # create is refused: failed, nothing to undo
        failed = await engine.start_and_run("onboard", {"name": "Ada"})
        assert failed.status == "failed"
        with pytest.raises(RunConflict):
            control.cancel(failed.id)
        again = control.retry(failed.id, engine.owner, 30.0)
        assert (again.status, again.step, again.error) == ("running", 2, None)
        assert (await engine.run(failed.id)).status == "completed"
        with pytest.raises(RunConflict):
            control.retry(failed.id, engine.owner, 30.0)

        gone = engine_for(broken, store)
        undone = await gone.start_and_run("onboard", {"name": "Bo"})
        await gone.aclose()
        assert undone.status == "compensated"
        restarted = control.retry(undone.id, engine.owner, 30.0)
        assert (restarted.step, restarted.context) == (0, {"message": {"name": "Bo"}, "steps": {}})
        assert control.runs.steps(undone.id) == []
        # It keeps its pinned steps (System gone still fails): run again from the first step,
        # it creates and undoes again.
        assert (await engine.run(undone.id)).status == "compensated"
        await engine.aclose()

    asyncio.run(go())
    assert len(requests_to(upstream, "/customers")) == 4  # Ada twice, Bo twice
    assert len(requests_to(upstream, "/customers/Bo")) == 2


def test_a_cancelled_run_stops_at_its_next_checkpoint(
    tmp_path: Path,
    store: Store,
    upstream: UpstreamThread,
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    engine = engine_for(root, store)
    upstream.hold("/customers")
    control = RunControl(store.db)

    async def go() -> str:
        run_id = await engine.start("onboard", {"name": "Ada"})
        running = asyncio.create_task(engine.run(run_id))
        while not requests_to(upstream, "/customers"):
            await asyncio.sleep(0.02)
        assert (await asyncio.to_thread(control.cancel, run_id)).status == "cancelled"
        upstream.release("/customers")
        return (await running).status

    assert asyncio.run(go()) == "cancelled"
    assert requests_to(upstream, "/notify") == []


def test_a_waiting_run_is_counted_paged_and_cancelled_and_then_never_wakes(
    tmp_path: Path,
    store: Store,
    store_url: str,
    upstream: UpstreamThread,
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, WAIT)
    run = asyncio.run(engine_for(root, store).start_and_run("remind", {"at": "2001-01-01"}))
    assert run.status == "waiting", run.error
    control = RunControl(store.db)
    assert control.counts() == {"remind": {"waiting": 1}}
    assert control.waiting() == {"remind": 1}
    (paged,) = control.page(status="waiting").runs
    assert paged.wake_at == run.wake_at
    with pytest.raises(RunConflict, match="is waiting: only a failed or compensated run retries"):
        control.retry(run.id, "someone", 30)
    cancelled = control.cancel(run.id)
    assert (cancelled.status, cancelled.wake_at) == ("cancelled", None)

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(hours=2)

    with open_store(store_url, clock=later) as restarted:
        assert asyncio.run(engine_for(root, restarted).recover()) == []
    assert requests_to(upstream, "/then") == []


def test_a_filter_picks_ended_runs_to_retry_once_each(
    tmp_path: Path,
    store: Store,
    upstream: UpstreamThread,
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    engine = engine_for(root, store)
    control = RunControl(store.db)

    async def fail(names: list[str]) -> list[str]:
        upstream.fail_next(len(names), 400)  # each create refused: failed, nothing to undo
        return [(await engine.start_and_run("onboard", {"name": n})).id for n in names]

    async def go() -> None:
        earlier = await fail(["a", "b"])
        middle = datetime.now(UTC)
        later = await fail(["c"])
        await engine.start_and_run("onboard", {"name": "d"})  # completed: never picked
        began = datetime.now(UTC)
        every = RunFilter("onboard", ("failed",), ended_before=began)
        assert control.count_matching(every) == 3
        assert control.matching(every, 2) == earlier  # those that ended first first
        assert control.matching(RunFilter(ended_since=middle, ended_before=began), 10) == later
        assert control.count_matching(RunFilter("other")) == 0
        assert control.count_matching(RunFilter(statuses=("failed", "compensated"))) == 3

        # Retried and failed again after the bulk retry began: not picked a second time.
        control.retry(earlier[0], engine.owner, 30.0)
        upstream.fail_next(1, 400)
        assert (await engine.run(earlier[0])).status == "failed"
        assert control.matching(every, 10) == [earlier[1], *later]
        assert control.count_matching(RunFilter("onboard")) == 3  # unbounded: it is again
        await engine.aclose()

    asyncio.run(go())
    for statuses in [("completed",), ()]:
        with pytest.raises(ConfigError, match="only failed and compensated runs retry"):
            control.count_matching(RunFilter(statuses=statuses))
