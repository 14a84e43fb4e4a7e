"""Trace context as text: traceparent headers, the OTLP URL, events' and runs' trace ids."""

from __future__ import annotations

import json

import pytest

from interlink.events.cloudevents import CloudEvent
from interlink.events.tracing import event_traceparent
from interlink.flows.tracing import run_context
from interlink.observe.tracing import TraceParent, otlp_traces_url, parse_traceparent

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
GOOD = f"00-{TRACE}-00f067aa0ba902b7-01"


def test_a_valid_traceparent_is_read_and_written_back() -> None:
    found = parse_traceparent(GOOD)
    assert found == TraceParent(int(TRACE, 16), 0x00F067AA0BA902B7, True)
    assert found.header() == GOOD
    assert parse_traceparent(GOOD[:-1] + "0") == TraceParent(found.trace_id, found.span_id, False)
    assert parse_traceparent(f"01-{TRACE}-00f067aa0ba902b7-01-later".encode()) is not None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        f"ff-{TRACE}-00f067aa0ba902b7-01",  # version ff is invalid
        f"00-{TRACE}-00f067aa0ba902b7-01-extra",  # version 00 has no suffix
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # zero parent id
        f"00-{TRACE.upper()}-00f067aa0ba902b7-01",  # upper case
        "not a traceparent",
    ],
)
def test_an_invalid_traceparent_is_none(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_a_traceparent_read_again_gives_the_same_whatever_came_between() -> None:
    # the last one read and written is kept: the events of one batch share it
    unsampled = GOOD[:-1] + "0"
    first = parse_traceparent(unsampled)
    assert parse_traceparent(unsampled) == first
    assert parse_traceparent(unsampled.encode()) == first
    assert parse_traceparent("not a traceparent") is None
    assert parse_traceparent("not a traceparent") is None
    assert parse_traceparent(GOOD) == TraceParent(int(TRACE, 16), 0x00F067AA0BA902B7, True)
    assert first is not None
    assert first.header() == unsampled
    other = TraceParent(int(TRACE, 16), 1, False)
    assert other.header() == f"00-{TRACE}-0000000000000001-00"
    assert first.header() == unsampled


def test_a_carried_context_is_current_within_its_block_only() -> None:
    from interlink.observe.metrics import Registry
    from interlink.observe.tracing import Tracing

    tracing = Tracing("http://127.0.0.1:9", "test", Registry(), schedule_delay=60)
    try:
        context = TraceParent(int(TRACE, 16), 7, False)
        assert tracing.traceparent() is None
        with tracing.carrying(context):
            assert tracing.traceparent() == context.header()
            with tracing.carrying(TraceParent(int(TRACE, 16), 8, False)):
                assert tracing.traceparent() == f"00-{TRACE}-0000000000000008-00"
            assert tracing.traceparent() == context.header()
        assert tracing.traceparent() is None
        with pytest.raises(ValueError), tracing.carrying(context):
            raise ValueError("out of the block")
        assert tracing.traceparent() is None
    finally:
        tracing.shutdown()


def test_the_otlp_url_gets_the_traces_path_once() -> None:
    assert otlp_traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert otlp_traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert otlp_traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


def test_an_event_carries_the_publish_traceparent_unless_it_has_its_own() -> None:
    plain = CloudEvent(id="1", source="crm", type="t", data={"traceparent": "in the data"})
    own = CloudEvent(id="2", source="crm", type="t", data={}, extensions={"traceparent": GOOD})
    other = f"00-{'1' * 32}-{'2' * 16}-01"
    traced, kept = plain.to_structured(other), own.to_structured(other)
    assert event_traceparent(traced) == other
    assert event_traceparent(kept) == GOOD
    # A "traceparent" key inside the data is not the event's.
    assert event_traceparent(plain.to_structured()) is None
    body = json.loads(traced)
    assert body["traceparent"] == other
    assert list(body) == [*list(body)[:-2], "traceparent", "data"]  # extensions before data
    assert body["data"] == {"traceparent": "in the data"}


def test_a_runs_trace_is_the_same_on_every_node() -> None:
    run = "91a6f378-0909-430f-9a4a-f4b673a6fac3"
    assert run_context(run) == run_context(run)
    assert f"{run_context(run).trace_id:032x}" == run.replace("-", "")
    other = run_context("not-a-uuid")
    assert other.trace_id
    assert other.span_id
    assert other != run_context(run)
