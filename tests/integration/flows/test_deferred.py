"""Deferred runs (FlowEngine.defer, what a consumed message starts): recorded only with their
first checkpoint, in one insert, and never made twice for a run id recorded before."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from interlink.flows.engine import Deferred
from interlink.flows.runs import Advanced, FlowRuns
from interlink.store import Store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.flows.test_engine import engine_for, requests_to, write_estate

pytestmark = pytest.mark.usefixtures("jsonata_engine")

RELAY = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: relay, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - {name: post, type: call, system: crm, path: /hooks, body: body}
"""

TWO = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: two, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - {name: post, type: call, system: crm, path: /hooks, body: body}
    - {name: again, type: call, system: crm, path: /again, body: body}
"""


def test_a_run_of_one_call_is_recorded_ended_with_its_step(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    engine = engine_for(write_estate(tmp_path / "estate", upstream.url, RELAY), store)

    async def go() -> tuple[Advanced, str]:
        made = await engine.defer("relay", {"body": {"n": 1}}, "queue:q:m1", "run-m1")
        assert isinstance(made, Deferred)
        assert not made.recorded.done()  # nothing written before its first checkpoint
        with pytest.raises(Exception, match="no flow run"):
            await asyncio.to_thread(FlowRuns(store.db).get, "run-m1")
        run = await engine.run_recorded(made)
        return made.recorded.result(), run.status

    recorded, status = asyncio.run(go())
    assert status == "completed"
    assert (recorded.created, recorded.run.status) == (True, "completed")
    runs = FlowRuns(store.db)
    stored = runs.get("run-m1")
    assert (stored.status, stored.owner, stored.lease_until) == ("completed", None, None)
    assert stored.finished_at is not None
    assert [(s.name, s.status, s.attempts) for s in runs.steps("run-m1")] == [
        ("post", "completed", 1)
    ]
    (hook,) = requests_to(upstream, "/hooks")
    assert json.loads(hook["body"]) == {"n": 1}
    assert hook["headers"]["idempotency-key"] == "run-m1:post"


def test_a_failed_first_attempt_records_the_run_then_retries_as_usual(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    engine = engine_for(write_estate(tmp_path / "estate", upstream.url, TWO), store)
    upstream.fail_next(1, 503)

    async def go() -> tuple[Advanced, str]:
        made = await engine.defer("two", {"body": {"n": 2}}, "queue:q:m2", "run-m2")
        assert isinstance(made, Deferred)
        run = await engine.run_recorded(made)
        return made.recorded.result(), run.status

    recorded, status = asyncio.run(go())
    # Recorded as a run would be before its first attempt, then the failure and retry written.
    assert (recorded.run.status, recorded.run.step) == ("running", 0)
    assert status == "completed"
    steps = FlowRuns(store.db).steps("run-m2")
    assert [(s.name, s.status, s.attempts) for s in steps] == [
        ("post", "completed", 2),
        ("again", "completed", 1),
    ]
    assert len(requests_to(upstream, "/hooks")) == 2


def test_a_run_recorded_before_is_not_made_again(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    engine = engine_for(write_estate(tmp_path / "estate", upstream.url, RELAY), store)

    async def go() -> tuple[Advanced | Deferred, Advanced | Deferred]:
        first = await engine.defer("relay", {"body": {"n": 3}}, "queue:q:m3", "run-m3")
        assert isinstance(first, Deferred)
        # The same message again while the first is in memory: it waits for its record.
        again = asyncio.ensure_future(
            engine.defer("relay", {"body": {"n": 3}}, "queue:q:m3", "run-m3")
        )
        await asyncio.sleep(0.05)
        assert not again.done()
        await engine.run_recorded(first)
        later = await engine.defer("relay", {"body": {"n": 3}}, "queue:q:m3", "run-m3")
        return await again, later

    again, later = asyncio.run(go())
    for made in (again, later):
        assert isinstance(made, Advanced)
        assert (made.created, made.run.status) == (False, "completed")
    assert len(requests_to(upstream, "/hooks")) == 1
