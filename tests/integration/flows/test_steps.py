"""The step kinds beyond map, filter, call and publish, against a real store and loopback
upstreams."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from interlink.flows.runs import FlowRun, FlowRuns
from interlink.store import Store, open_store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.flows.test_engine import GONE, engine_for, requests_to, write_estate

CHOICE = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: route, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - name: by-tier
      type: choice
      branches:
        - when: 'tier = "gold"'
          steps:
            - name: vip
              type: call
              system: crm
              path: /vip
              compensate: {system: crm, method: DELETE, path: '/vip/{name}'}
            - {name: mark-vip, type: map, expression: '$merge([$, {"vip": true}])'}
        - when: 'tier = "none"'
          steps:
            - {name: drop, type: filter, condition: 'false'}
      otherwise:
        - {name: mark-plain, type: map, expression: '$merge([$, {"vip": false}])'}
    - {name: after, type: call, system: crm, path: /after}
"""


def test_a_choice_runs_the_first_branch_that_holds_then_the_steps_after_it(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, CHOICE)
    engine = engine_for(root, store)

    async def three() -> list[FlowRun]:
        tiers = [("Ada", "gold"), ("Bo", "silver"), ("Cy", "none")]
        return [await engine.start_and_run("route", {"name": n, "tier": t}) for n, t in tiers]

    gold, plain, dropped = asyncio.run(three())
    assert gold.status == "completed", gold.error
    assert gold.context["message"] == {"name": "Ada", "tier": "gold", "vip": True}
    steps = [(s.name, s.output) for s in FlowRuns(store.db).steps(gold.id)]
    assert [name for name, _ in steps] == ["by-tier", "vip", "mark-vip", "after"]
    assert steps[0][1] == {"branch": 0}
    assert len(requests_to(upstream, "/vip")) == 1

    assert plain.status == "completed", plain.error
    assert plain.context["message"]["vip"] is False
    names = [s.name for s in FlowRuns(store.db).steps(plain.id)]
    assert names == ["by-tier", "mark-plain", "after"]
    assert len(requests_to(upstream, "/vip")) == 1
    assert len(requests_to(upstream, "/after")) == 2

    assert dropped.status == "filtered"
    assert len(requests_to(upstream, "/after")) == 2


def test_a_failure_after_a_branch_undoes_the_branch_calls(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    flows = CHOICE.replace("system: crm, path: /after", "system: gone, path: /after") + GONE
    root = write_estate(tmp_path / "estate", upstream.url, flows)
    run = asyncio.run(
        engine_for(root, store).start_and_run("route", {"name": "Ada", "tier": "gold"})
    )
    assert run.status == "compensated", run.error
    (undo,) = requests_to(upstream, "/vip/Ada")
    assert undo["method"] == "DELETE"


def test_a_run_stopped_inside_a_branch_resumes_in_that_branch(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, CHOICE)
    upstream.hold("/vip")

    async def stopped_mid_branch() -> str:
        engine = engine_for(root, store)
        run_id = await engine.start("route", {"name": "Ada", "tier": "gold"})
        task = asyncio.create_task(engine.run(run_id))
        while not requests_to(upstream, "/vip"):
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.aclose()
        return run_id

    run_id = asyncio.run(stopped_mid_branch())
    upstream.release("/vip")

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(minutes=5)

    with open_store(store_url, clock=later) as restarted:
        (run,) = asyncio.run(engine_for(root, restarted).recover())
    assert run.id == run_id
    assert run.status == "completed", run.error
    attempts = {s.name: s.attempts for s in FlowRuns(store.db).steps(run.id)}
    assert attempts == {"by-tier": 1, "vip": 2, "mark-vip": 1, "after": 1}
