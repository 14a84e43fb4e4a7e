"""A flow run recorded on one node and resumed on another (or after a restart) records its
later hops as the first node would have: its subject is read again from its stored input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlink.observe.lineage import subject_types, trace_subject
from interlink.runtime.serve import start_mesh, stop_mesh
from interlink.testing.upstreams import EchoUpstream
from tests.integration.events.test_lineage_mesh import open_runtime, until

pytestmark = pytest.mark.anyio


async def test_a_run_resumed_here_records_its_later_hops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = await EchoUpstream().start()
    runtime = open_runtime(tmp_path, monkeypatch, receiver.url)
    try:
        await start_mesh(runtime)
        flows, lineage = runtime.flows, runtime.lineage
        assert flows is not None
        assert lineage is not None
        # Recorded as another node would (nothing carried here), then run here.
        data = {"customerId": "C9", "email": "r@x"}
        run_id = await flows.engine.start("sync", data, "event:flow-sync:e9")
        flows._spawn(run_id)
        await flows.finished(run_id)
        await lineage.recorder.flush()
        declared = subject_types(runtime.snapshot.estate)
        trace = trace_subject(runtime.store, declared, "customer", "C9")
        emitter = lineage.emitter
        assert emitter is not None
        await until(lambda: emitter.sent == 1)  # its COMPLETE (its START: where recorded)
    finally:
        await stop_mesh(runtime)
        runtime.close()
        await receiver.stop()
    hops = sorted((h.kind, h.actor, h.target, h.detail, h.run_id) for h in trace.hops)
    assert hops == [
        ("transformed", "Flow/sync", "Flow/sync", "step save", run_id),
        ("transformed", "Flow/sync", "Flow/sync", "step shape", run_id),
        ("written", "Flow/sync", "System/dwh", "write customers", run_id),
    ]
    assert {h.event_id for h in trace.hops} == {"e9"}
    (complete,) = [json.loads(r["body"]) for r in receiver.requests]
    assert complete["eventType"] == "COMPLETE"
    assert complete["outputs"] == [{"namespace": "System/dwh", "name": "customers"}]
