"""Lineage on a serving node, in process: events for a customer go through a Subscription into a
flow that writes them to a database System; `lineage trace` tells every hop, and each run's
OpenLineage events reach a loopback endpoint, valid against the OpenLineage schema."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from interlink.errors import NotFound
from interlink.observe.lineage import subject_types, trace_subject
from interlink.runtime.runtime import Runtime
from interlink.runtime.serve import start_mesh, stop_mesh
from interlink.runtime.settings import ServeSettings
from interlink.testing.upstreams import EchoUpstream
from tests.unit.observe.openlineage_schema import run_event_validator

pytestmark = pytest.mark.anyio

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["customerId"],
    "properties": {"customerId": {"type": "string"}, "email": {"type": "string"}},
}
ESTATE = """\
apiVersion: interlink/v1
kind: Platform
metadata: {name: platform}
spec:
  lineage:
    openLineageEndpoint: "${env:LINEAGE_TEST_ENDPOINT}"
    openLineageNamespace: retail
---
apiVersion: interlink/v1
kind: Team
metadata: {name: ops}
---
apiVersion: interlink/v1
kind: System
metadata: {name: crm, owner: ops}
spec: {domain: sales}
---
apiVersion: interlink/v1
kind: System
metadata: {name: dwh, owner: ops}
spec:
  domain: data
  connector: sqlite
  connection: {path: "${env:LINEAGE_TEST_DB}"}
---
apiVersion: interlink/v1
kind: Event
metadata: {name: customer.updated, owner: ops}
spec:
  system: crm
  schemas: [{version: 1, file: customer.schema.json}]
  # one customer's events run the flow in order: the last one's email is what stays
  orderingKey: customerId
  classification: {level: confidential, piiCategories: [contact]}
  subject: {type: customer, key: data.customerId}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: sync, owner: ops}
spec:
  trigger: {event: customer.updated}
  steps:
    - {name: shape, type: map, expression: "{'id': customerId, 'email': email}"}
    - {name: save, type: write, system: dwh, table: customers, mode: upsert, key: [id],
       rows: "[$]"}
"""


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def open_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: str) -> Runtime:
    """The estate above on a node whose OpenLineage endpoint is ``receiver``, its dwh System a
    SQLite file (``tmp_path/dwh.db``) with an empty ``customers`` table."""
    db = tmp_path / "dwh.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT)")
    monkeypatch.setenv("LINEAGE_TEST_ENDPOINT", f"{receiver}/api/v1/lineage")
    monkeypatch.setenv("LINEAGE_TEST_DB", str(db))
    estate = tmp_path / "estate"
    estate.mkdir()
    (estate / "estate.yaml").write_text(ESTATE, encoding="utf-8")
    (estate / "customer.schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    return Runtime.open(ServeSettings(estate))


async def test_a_customers_events_are_traced_through_a_flow_into_a_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = await EchoUpstream().start()
    db = tmp_path / "dwh.db"
    runtime = open_runtime(tmp_path, monkeypatch, receiver.url)
    try:
        mesh = await start_mesh(runtime)
        for n, (customer, email) in enumerate(
            [("C000042", "a@x"), ("C7", "b@x"), ("C000042", "c@x")]
        ):
            body = json.dumps({"customerId": customer, "email": email}).encode()
            reply = await mesh.ingress.publish_data(
                "customer.updated", body, id=f"e{n}", source="/crm"
            )
            assert reply.status == 202, reply.body

        def written() -> list[tuple[str, str]]:
            with sqlite3.connect(db) as conn:
                return conn.execute("SELECT id, email FROM customers ORDER BY id").fetchall()

        await until(lambda: written() == [("C000042", "c@x"), ("C7", "b@x")])
        lineage = runtime.lineage
        assert lineage is not None
        assert lineage.emitter is not None
        emitter = lineage.emitter
        await until(lambda: emitter.sent == 6)  # a START and a COMPLETE per run
        await lineage.recorder.flush()
        declared = subject_types(runtime.snapshot.estate)
        trace = trace_subject(runtime.store, declared, "customer", "C000042")
        nothing = trace_subject(runtime.store, declared, "customer", "C404")
        with pytest.raises(NotFound, match="declared: customer"):
            trace_subject(runtime.store, declared, "order", "C000042")
    finally:
        await stop_mesh(runtime)
        runtime.close()
        await receiver.stop()

    hops = [(h.kind, h.actor, h.target, h.detail) for h in trace.hops]
    one_event = [
        ("published", "System/crm", "Event/customer.updated", ""),
        ("delivered", "Subscription/flow-sync", "Flow/sync", ""),
        ("transformed", "Flow/sync", "Flow/sync", "step shape"),
        ("transformed", "Flow/sync", "Flow/sync", "step save"),
        ("written", "Flow/sync", "System/dwh", "write customers"),
    ]
    assert sorted(hops) == sorted(one_event * 2)  # two events of C000042; C7's apart
    assert {h.event_id for h in trace.hops if h.event_id} == {"e0", "e2"}
    assert hops[0][0] == "published"
    assert nothing.hops == []
    assert nothing.timeline().startswith("no record of customer C404")

    validator = run_event_validator()
    events = [json.loads(r["body"]) for r in receiver.requests]
    for event in events:
        assert [e.message for e in validator.iter_errors(event)] == []
    assert sorted(e["eventType"] for e in events) == ["COMPLETE"] * 3 + ["START"] * 3
    complete = next(e for e in events if e["eventType"] == "COMPLETE")
    assert complete["job"] == {"namespace": "retail", "name": "sync"}
    assert complete["inputs"] == [{"namespace": "interlink", "name": "Event/customer.updated"}]
    assert complete["outputs"] == [{"namespace": "System/dwh", "name": "customers"}]
    runs = {e["run"]["runId"] for e in events}
    assert len(runs) == 3
