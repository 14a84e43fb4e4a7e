"""A flow's ``timeout``: a deadline kept on the run from its start, on both stores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from interlink.flows.control import RunControl
from interlink.flows.definition import pin
from interlink.flows.runs import FlowRuns
from interlink.store import Store, open_store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.flows.test_engine import SAGA, engine_for, requests_to, write_estate

PAUSED = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: hold, owner: ops}
spec:
  timeout: 30m
  steps:
    - name: create
      type: call
      system: crm
      path: /customers
      compensate: {system: crm, method: DELETE, path: '/customers/{name}'}
    - {name: pause, type: wait, for: 1h}
    - {name: then, type: call, system: crm, path: /then}
"""


def test_the_step_in_flight_at_the_deadline_fails_and_the_calls_before_it_are_undone(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    limited = SAGA.replace(
        "  trigger: {manual: true}\n", "  trigger: {manual: true}\n  timeout: 2s\n"
    )
    root = write_estate(tmp_path / "estate", upstream.url, limited)
    engine = engine_for(root, store)
    upstream.hold("/notify")  # the call never answers: only the flow's deadline ends it

    async def go() -> None:
        run = await engine.start_and_run("onboard", {"name": "Ada"})
        assert run.status == "compensated", run.error
        assert run.error == "step notify failed: flow timeout after 2s"
        assert run.deadline is not None
        assert run.deadline - run.started_at <= timedelta(seconds=2)
        steps = {(s.phase, s.name): s for s in FlowRuns(store.db).steps(run.id)}
        notify = steps[("forward", "notify")]
        assert (notify.status, notify.attempts, notify.error) == (
            "failed",
            1,  # not retried: the time is up for every attempt
            "flow timeout after 2s",
        )
        assert steps[("compensate", "create")].status == "completed"
        await engine.aclose()

    try:
        asyncio.run(go())
    finally:
        upstream.release("/notify")
    assert len(requests_to(upstream, "/customers/Ada")) == 1  # the undo call


def test_a_flow_without_a_timeout_keeps_no_deadline(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    run = asyncio.run(engine_for(root, store).start_and_run("onboard", {"name": "Ada"}))
    assert (run.status, run.deadline) == ("completed", None)


def test_a_run_waiting_past_its_deadline_wakes_at_it_and_fails_at_the_wait(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, PAUSED)
    before = datetime.now(UTC)
    run = asyncio.run(engine_for(root, store).start_and_run("hold", {"name": "Ada"}))
    assert run.status == "waiting", run.error
    assert run.deadline is not None
    assert (
        before + timedelta(minutes=30) <= run.deadline <= datetime.now(UTC) + timedelta(minutes=30)
    )
    assert run.wake_at == run.deadline  # not the hour the wait asks for

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(minutes=45)

    # Another process, after the deadline: the run is due, and fails where it waited.
    with open_store(store_url, clock=later) as restarted:
        (ended,) = asyncio.run(engine_for(root, restarted).recover())
        assert ended.status == "compensated", ended.error
        assert ended.error == "step pause failed: flow timeout after 1800s"
        assert requests_to(upstream, "/then") == []
        assert len(requests_to(upstream, "/customers/Ada")) == 1
        # A retry has the whole timeout again, from the retry.
        again = RunControl(restarted.db).retry(run.id, "someone", 30.0)
        assert again.deadline is not None
        assert again.deadline >= later() + timedelta(minutes=29)


CAUGHT = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: caught, owner: ops}
spec:
  timeout: 10s
  steps:
    - {name: first, type: call, system: crm, path: /first}
  onError:
    - {name: note, type: map, expression: '{"why": $error.message}'}
"""


def test_a_run_resumed_past_its_deadline_fails_at_once_and_its_on_error_steps_still_run(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, CAUGHT)
    engine = engine_for(root, store)
    spec = engine._flows("caught")
    definition, revision = pin(spec)
    # Recorded by an engine that died at once, and found after its deadline.
    recorded = FlowRuns(store.db).create(
        "caught",
        revision,
        definition,
        "manual",
        {},
        "gone",
        0,
        deadline=datetime.now(UTC) - timedelta(seconds=1),
    )
    (ended,) = asyncio.run(engine.recover())
    assert ended.id == recorded.id
    assert (ended.status, ended.error) == ("failed", "step first failed: flow timeout after 10s")
    assert requests_to(upstream, "/first") == []  # never sent: the time was up before it
    assert ended.context["message"] == {"why": "flow timeout after 10s"}
    steps = {s.name: s.status for s in FlowRuns(store.db).steps(ended.id)}
    assert steps == {"first": "failed", "note": "completed"}


def test_a_wait_among_the_on_error_steps_is_not_cut_by_the_deadline(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(
        tmp_path / "estate",
        upstream.url,
        CAUGHT + "    - {name: cool-down, type: wait, for: 1h}\n",
    )
    engine = engine_for(root, store)
    definition, revision = pin(engine._flows("caught"))
    past = datetime.now(UTC) - timedelta(seconds=1)
    FlowRuns(store.db).create(
        "caught", revision, definition, "manual", {}, "gone", 0, deadline=past
    )
    (ended,) = asyncio.run(engine.recover())
    assert ended.status == "waiting", ended.error
    assert ended.wake_at is not None
    assert ended.wake_at > datetime.now(UTC) + timedelta(minutes=59)  # the hour it asks for
    assert asyncio.run(engine.recover()) == []  # not due: nothing spins on it
