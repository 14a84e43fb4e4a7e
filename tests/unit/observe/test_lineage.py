"""Record-level lineage (subjects' keys, the recorder, traces) and OpenLineage run events."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlink.errors import NotFound
from interlink.estate.kinds.flow import FlowSpec
from interlink.estate.loader import load_estate
from interlink.estate.subjects import SubjectKey, key_problem
from interlink.observe.lineage import (
    CURRENT_RUN,
    LineageRecorder,
    note_called,
    note_step,
    note_written,
    subject_types,
    trace_subject,
)
from interlink.observe.lineage.openlineage import (
    OpenLineageEmitter,
    run_event,
    run_uuid,
    trigger_inputs,
    written_outputs,
)
from interlink.store import Hop, Store, open_store
from interlink.store.lineage import micros
from interlink.testing.upstreams import EchoUpstream
from tests.unit.observe.openlineage_schema import run_event_validator

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        opened.migrate()
        yield opened


@pytest.fixture
def estate(retail_dir: Path) -> Any:
    loaded, _ = load_estate(retail_dir)
    return loaded


def test_a_subject_key_is_a_dotted_path_or_jsonata_over_the_cloudevent() -> None:
    event = {"id": "e1", "source": "/crm", "data": {"customer": {"id": "C7", "n": 3}}}
    assert SubjectKey("data.customer.id").extract(event) == "C7"
    assert SubjectKey("data.customer.n").extract(event) == "3"
    assert SubjectKey("data.customer").extract(event) is None  # an object is no key
    assert SubjectKey("data.customer.id.deeper").extract(event) is None
    assert SubjectKey('source & ":" & data.customer.id').extract(event) == "/crm:C7"
    assert SubjectKey("$number('x')").extract(event) is None  # a failure gives no subject


def test_a_bad_subject_key_is_said_plainly() -> None:
    assert key_problem("data.customerId", {"customerId"}) is None
    assert "did you mean data.customerId?" in str(key_problem("customerId", None))
    assert key_problem("data.custId", {"customerId"}) == (
        "'custId' is not a field of the latest schema"
    )
    assert str(key_problem("$uppercase(data.x", None)).startswith("does not compile: ")
    assert key_problem("data", None) == "the key is the whole data, not one value of it"


def _published(recorder: LineageRecorder, customer: str, event_id: str = "e1") -> None:
    event = {"id": event_id, "data": {"customerId": customer, "address": {}}}
    recorder.published("customer.address-updated", event)


async def test_the_recorder_records_hops_of_declared_subjects_only(
    store: Store, estate: Any
) -> None:
    recorder = LineageRecorder(store, estate, clock=lambda: micros(T0))
    _published(recorder, "C1")
    recorder.published("order.placed", {"id": "o1", "data": {"customerId": "C1"}})  # no subject
    recorder.published("customer.address-updated", {"id": "e2", "data": {}})  # no key in it
    body = json.dumps({"id": "e1", "data": {"customerId": "C1"}}).encode()
    recorder.delivered("customer.address-updated", "to-erp", "System/erp", "e1", body)
    recorder.delivered("customer.address-updated", "to-erp", "System/erp", "e3", b"not json")
    assert len(recorder.held) == 2
    assert await recorder.flush() == 2
    assert recorder.held == []
    hops = store.lineage.trace("customer", "C1")
    assert [(h.kind, h.actor, h.target) for h in hops] == [
        ("published", "System/crm", "Event/customer.address-updated"),
        ("delivered", "Subscription/to-erp", "System/erp"),
    ]
    assert hops[0].event_id == "e1"


async def test_an_ordering_key_that_is_the_subject_key_is_taken_as_that_key_reads_it(
    store: Store, estate: Any
) -> None:
    recorder = LineageRecorder(store, estate, clock=lambda: micros(T0))
    kind = "customer.address-updated"  # orderingKey customerId, subject key data.customerId
    assert kind in recorder.subjects.keyed
    assert recorder.published_keyed(kind, "e1", "C1", "Consumer/crm-sync")
    assert recorder.published_keyed(kind, "e2", "42")  # a number reads the same
    # What validation writes as JSON (a boolean, an object, a list) or finds empty is not
    # what the subject's key reads: the caller records those from the event itself.
    for key in ("true", "false", '{"id":1}', "[1]", "", None):
        assert not recorder.published_keyed(kind, "e3", key)
    assert not recorder.published_keyed("order.placed", "o1", "C1")  # no subject
    body = json.dumps({"id": "e4", "data": {"customerId": True}}).encode()
    recorder.delivered(kind, "to-erp", "System/erp", "e4", body, "true")  # read: no key
    recorder.delivered(kind, "to-erp", "System/erp", "e1", b"{}", "C1")  # key from the job
    await recorder.flush()
    assert [
        (h.subject_key, h.kind, h.actor, h.event_id) for h in store.lineage.trace("customer", "C1")
    ] == [
        ("C1", "published", "Consumer/crm-sync", "e1"),
        ("C1", "delivered", "Subscription/to-erp", "e1"),
    ]
    assert [(h.actor, h.event_id) for h in store.lineage.trace("customer", "42")] == [
        ("System/crm", "e2")
    ]


async def test_hops_held_when_the_recorder_stops_are_written_then(
    store: Store, estate: Any
) -> None:
    recorder = LineageRecorder(store, estate, interval=3600, clock=lambda: micros(T0))
    recorder.start()
    assert recorder.published_keyed("customer.address-updated", "e1", "C5")
    await asyncio.sleep(0.05)
    assert store.lineage.trace("customer", "C5") == []  # held until the next write
    await recorder.stop()
    assert [h.event_id for h in store.lineage.trace("customer", "C5")] == ["e1"]


async def test_a_run_carrying_a_subject_records_its_steps_and_writes(
    store: Store, estate: Any
) -> None:
    recorder = LineageRecorder(store, estate, clock=lambda: micros(T0))
    carried = recorder.run_lineage(
        "address-sync", "run-1", "customer.address-updated", "e1", {"customerId": "C9"}
    )
    assert carried.subject == ("customer", "C9")
    note_step("address-sync", "map")  # no run in this context: nothing
    token = CURRENT_RUN.set(carried)
    try:
        note_step("address-sync", "map")
        note_written("erp", "write", "customers")
        note_called("erp", "GET", "/customers/C9")  # a read: no hop
        note_called("erp", "put", "/customers/C9/billing-address")
        _published(recorder, "C9", "e2")  # published by the run: said as the flow
    finally:
        CURRENT_RUN.reset(token)
    await recorder.flush()
    hops = store.lineage.trace("customer", "C9")
    assert [(h.kind, h.actor, h.target, h.detail) for h in hops] == [
        ("transformed", "Flow/address-sync", "Flow/address-sync", "step map"),
        ("written", "Flow/address-sync", "System/erp", "write customers"),
        ("written", "Flow/address-sync", "System/erp", "PUT /customers/C9/billing-address"),
        ("published", "Flow/address-sync", "Event/customer.address-updated", ""),
    ]
    assert hops[1].run_id == "run-1"
    assert carried.written == {("erp", "write", "customers")}  # a call is no dataset
    plain = recorder.run_lineage("other", "run-2", None, "", {"customerId": "C9"})
    assert plain.subject is None


async def test_held_hops_are_kept_when_the_store_fails_and_bounded(
    store: Store, estate: Any
) -> None:
    recorder = LineageRecorder(store, estate, limit=2, clock=lambda: micros(T0))
    for n in range(3):
        _published(recorder, f"C{n}")
    assert len(recorder.held) == 2
    assert recorder.dropped == 1
    store.close()  # the store away: the write fails, the hops are kept
    assert await recorder.flush() == 0
    assert len(recorder.held) == 2


def test_a_trace_of_an_undeclared_type_names_the_declared_ones(store: Store) -> None:
    with pytest.raises(NotFound, match=r"subject type 'custmer'; declared: customer, employee"):
        trace_subject(store, frozenset({"customer", "employee"}), "custmer", "C1")
    with pytest.raises(NotFound, match="the estate declares none"):
        trace_subject(store, frozenset(), "customer", "C1")


def test_a_trace_with_nothing_recorded_says_so(store: Store) -> None:
    trace = trace_subject(store, frozenset({"customer"}), "customer", "C000042", since=T0)
    assert trace.timeline() == (
        "no record of customer C000042 since 2026-03-01T12:00:00.000Z: none of its data was "
        "recorded moving\n"
    )
    document = trace.as_json()
    assert document["hops"] == []
    assert document["message"].startswith("no record of")


def test_a_trace_reads_as_a_timeline_a_mermaid_graph_and_json(store: Store) -> None:
    def at(seconds: int) -> datetime:
        return T0 + timedelta(seconds=seconds)

    store.lineage.record(
        [
            Hop("customer", "C1", T0, "published", "Consumer/crm", "Event/c", event_id="e1"),
            Hop("customer", "C1", at(1), "delivered", "Subscription/s", "Flow/f"),
            Hop("customer", "C1", at(2), "delivered", "Subscription/s", "Flow/f"),
            Hop("customer", "C1", at(3), "written", "Flow/f", "System/dwh",
                'write "customers"', run_id="r1"),
        ]
    )  # fmt: skip
    trace = trace_subject(store, frozenset({"customer"}), "customer", "C1")
    lines = trace.timeline().splitlines()
    assert lines[0] == "customer C1: 4 hop(s)"
    assert lines[1] == ("2026-03-01T12:00:00.000Z  published   Consumer/crm -> Event/c  [event e1]")
    assert lines[4].endswith('written     Flow/f -> System/dwh  (write "customers")  [run r1]')
    assert trace.mermaid().splitlines() == [
        "%% customer C1",
        "flowchart LR",
        '    n0["Consumer/crm"]',
        '    n1["Event/c"]',
        '    n2["Subscription/s"]',
        '    n3["Flow/f"]',
        '    n4["System/dwh"]',
        '    n0 -->|"published"| n1',
        '    n2 -->|"delivered x2"| n3',
        "    n3 -->|\"written: write 'customers'\"| n4",
    ]
    document = trace.as_json()
    assert document["subject"] == {"type": "customer", "key": "C1"}
    assert document["hops"][3]["to"] == "System/dwh"
    assert document["message"] is None


def test_subject_types_are_those_events_and_products_declare(estate: Any) -> None:
    assert subject_types(estate) == frozenset({"customer"})


# --- OpenLineage -----------------------------------------------------------------------------


def _flow(trigger: dict[str, Any]) -> FlowSpec:
    steps = [{"name": "m", "type": "map", "expression": "$"}]
    return FlowSpec.model_validate({"trigger": trigger, "steps": steps})


def test_run_events_are_valid_openlineage() -> None:
    validator = run_event_validator()
    inputs = trigger_inputs(_flow({"event": "customer.updated"}))
    assert inputs == [{"namespace": "interlink", "name": "Event/customer.updated"}]
    outputs = written_outputs({("dwh", "write", "customers"), ("mq", "send", "")})
    assert outputs == [
        {"namespace": "System/dwh", "name": "customers"},
        {"namespace": "System/mq", "name": "send"},
    ]
    for kind in ("START", "COMPLETE", "FAIL"):
        event = run_event(
            kind,
            namespace="retail",
            job="address-sync",
            run_id="flow-run:7",
            inputs=inputs,
            outputs=outputs if kind != "START" else [],
            at=T0,
        )
        errors = [e.message for e in validator.iter_errors(event)]
        assert errors == [], errors
        assert event["eventTime"] == "2026-03-01T12:00:00Z"
    assert run_uuid("flow-run:7") == run_uuid("flow-run:7") != run_uuid("flow-run:8")
    uid = "6f1d8a52-3c0e-4d6b-9a57-6d0b5e2f9c11"
    assert run_uuid(uid) == uid
    bad = run_event("START", namespace="n", job="j", run_id="r", inputs=[], outputs=[])
    bad["run"]["runId"] = "not-a-uuid"
    assert not validator.is_valid(bad)  # the schema does judge what it is given


def test_a_sync_reads_its_table_path_or_queue() -> None:
    poll = {"poll": {"system": "shop", "table": "orders", "cursor": "id", "key": ["id"]}}
    assert trigger_inputs(_flow(poll)) == [{"namespace": "System/shop", "name": "orders"}]
    consume = {"consume": {"system": "mq", "from": "orders"}}
    assert trigger_inputs(_flow(consume)) == [{"namespace": "System/mq", "name": "orders"}]
    assert trigger_inputs(_flow({"manual": True})) == []


async def test_the_emitter_retries_and_counts_what_it_gives_up() -> None:
    receiver = await EchoUpstream().start()
    emitter = OpenLineageEmitter(f"{receiver.url}/api/v1/lineage", backoff=0.01)
    emitter.start()
    try:
        receiver.fail_next(1, 503)
        emitter.emit(run_event("START", namespace="n", job="j", run_id="r", inputs=[], outputs=[]))
        await emitter.flush()
        assert (emitter.sent, emitter.failed) == (1, 0)
        receiver.fail_next(10, 400)  # refused for good: not tried again
        emitter.emit(run_event("FAIL", namespace="n", job="j", run_id="r", inputs=[], outputs=[]))
        await emitter.flush()
        assert (emitter.sent, emitter.failed) == (1, 1)
    finally:
        await emitter.close()
        await receiver.stop()
    posted = [r for r in receiver.requests if r["path"] == "/api/v1/lineage"]
    assert len(posted) == 3  # the 503, the retry, the 400
    body = json.loads(posted[1]["body"])
    assert body["eventType"] == "START"
    assert run_event_validator().is_valid(body)
    assert posted[1]["headers"]["content-type"] == "application/json"


async def test_an_unreachable_endpoint_never_holds_the_caller() -> None:
    emitter = OpenLineageEmitter("http://127.0.0.1:9/lineage", retries=1, backoff=0.01)
    emitter.start()
    emitter.emit(run_event("START", namespace="n", job="j", run_id="r", inputs=[], outputs=[]))
    await asyncio.wait_for(emitter.flush(), 5)
    assert emitter.failed == 1
    await emitter.close()
