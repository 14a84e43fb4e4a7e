"""A run whose first step is a ``map`` or ``filter`` is recorded with that step already done, in
one transaction: what holds for every run holds for it too (input checks, the deadline, the
observer, the size limits), on both stores."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from interlink.errors import InvalidFlowInput
from interlink.flows.engine import FlowEngine
from interlink.flows.observer import FlowObserver, Outcome
from interlink.flows.payloads import PayloadTooLarge
from interlink.flows.runs import FlowRuns, Phase
from interlink.store import Store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.flows.test_engine import engine_for, write_estate

FLOWS = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: priced, owner: ops}
spec:
  timeout: 30m
  inputSchema:
    type: object
    required: [sku, qty]
    properties: {sku: {type: string}, qty: {type: integer}}
  steps:
    - {name: price, type: map, expression: '{"sku": sku, "total": qty * 2}'}
    - {name: send, type: call, system: crm, path: /orders}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: padded, owner: ops}
spec:
  steps:
    - {name: pad, type: map, expression: '{"blob": $pad("", n, "x")}'}
    - {name: send, type: call, system: crm, path: /orders}
"""
LIMITS = "  flows: {inlinePayloadBytes: 1024, maxPayloadBytes: 8192}"


class Heard(FlowObserver):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def step_started(self, flow: str, step: str, kind: str, phase: Phase, attempt: int) -> None:
        self.events.append(("started", flow, step, attempt))

    def step_ended(
        self, flow: str, step: str, phase: Phase, attempt: int, seconds: float, outcome: Outcome
    ) -> None:
        assert seconds >= 0
        self.events.append(("ended", flow, step, attempt, outcome))


@pytest.fixture
def root(tmp_path: Path, upstream: UpstreamThread) -> Path:
    return write_estate(tmp_path / "estate", upstream.url, FLOWS, LIMITS)


def go(engine: FlowEngine, flow: str, data: Any) -> Any:
    async def both() -> Any:
        try:
            return await engine.start_and_run(flow, data)
        finally:
            await engine.aclose()

    return asyncio.run(both())


def test_a_leading_map_is_reported_once_and_the_run_keeps_its_deadline(
    root: Path, store: Store
) -> None:
    heard = Heard()
    run = go(engine_for(root, store, observer=heard), "priced", {"sku": "a", "qty": 3})
    assert run.status == "completed", run.error
    assert heard.events == [
        ("started", "priced", "price", 1),
        ("ended", "priced", "price", 1, "completed"),
        ("started", "priced", "send", 1),
        ("ended", "priced", "send", 1, "completed"),
    ]
    stored = FlowRuns(store.db).get(run.id)
    assert stored.deadline is not None
    assert round((stored.deadline - stored.started_at).total_seconds()) == 1800
    price, send = FlowRuns(store.db).steps(run.id)
    assert (price.name, price.attempts, price.output) == ("price", 1, {"sku": "a", "total": 6})
    assert (send.name, send.attempts, send.status) == ("send", 1, "completed")


def test_an_input_its_schema_refuses_records_nothing_and_runs_nothing(
    root: Path, store: Store, upstream: UpstreamThread
) -> None:
    with pytest.raises(InvalidFlowInput):
        go(engine_for(root, store), "priced", {"sku": "a"})
    assert FlowRuns(store.db).latest("priced") == []
    assert upstream.requests == []


def test_an_input_over_the_limit_is_refused_before_the_leading_step(
    root: Path, store: Store
) -> None:
    with pytest.raises(PayloadTooLarge):
        go(engine_for(root, store), "padded", {"n": 1, "note": "y" * 9000})
    assert FlowRuns(store.db).latest("padded") == []


def test_a_leading_output_over_the_limit_fails_its_step_as_any_step_would(
    root: Path, store: Store, upstream: UpstreamThread
) -> None:
    run = go(engine_for(root, store), "padded", {"n": 9000})
    assert run.status == "failed"
    assert "output of step pad" in (run.error or "")
    assert upstream.requests == []


def test_a_large_leading_output_is_kept_by_reference(root: Path, store: Store) -> None:
    run = go(engine_for(root, store), "padded", {"n": 4000})
    assert run.status == "completed", run.error
    runs = FlowRuns(store.db)
    pad, _ = runs.steps(run.id)
    assert pad.output["bytes"] > 4000
    assert "$payload" in pad.output
    assert "$payload" in runs.get(run.id).context["message"]
    assert runs.payloads.loaded(run.id, [pad.output]) == [{"blob": "x" * 4000}]
