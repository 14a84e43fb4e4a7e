"""Property-based tests: whatever bytes or JSON arrive, parsing answers with an event or with
MalformedEvent, never another exception; and what it accepts serialises and reads back alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlink.errors import MalformedEvent
from interlink.events.cloudevents import (
    CloudEvent,
    parse_batch,
    parse_binary,
    parse_http,
    parse_structured,
)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NAMES = [
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
    "data",
    "data_base64",
    "ext",
    "Bad",
    "traceparent",
]
VALID: dict[str, Any] = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["1.0", "", "/s", "2020-01-01T00:00:00Z", "application/json", "AAEC"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
events = st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=10), json_values, max_size=10)


def outcome(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The call's result, or None when it refused with MalformedEvent (anything else fails)."""
    try:
        return call(*args, **kwargs)
    except MalformedEvent as exc:
        refused = exc
    assert refused.violations
    assert all(v.pointer == "" or v.pointer.startswith("/") for v in refused.violations)
    return None


def assert_round_trip(event: CloudEvent) -> None:
    assert parse_structured(event.to_structured()) == event


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_any_parser(body: bytes) -> None:
    event = outcome(parse_structured, body)
    if event is not None:
        assert_round_trip(event)
    outcome(parse_batch, body)
    outcome(parse_binary, {"content-type": "application/json"}, body)
    outcome(parse_http, {"content-type": "application/cloudevents+json"}, body)


@FUZZ
@given(json_values)
def test_random_json_never_crashes(value: Any) -> None:
    body = json.dumps(value).encode()
    outcome(parse_structured, body)
    outcome(parse_batch, body)


@FUZZ
@given(events)
def test_random_events_are_accepted_or_refused_with_violations(obj: dict[str, Any]) -> None:
    event = outcome(parse_structured, json.dumps({**VALID, **obj}).encode())
    if event is not None:
        assert_round_trip(event)


@FUZZ
@given(st.lists(events, max_size=5))
def test_random_batches_point_into_their_items(items: list[dict[str, Any]]) -> None:
    body = json.dumps([{**VALID, **item} for item in items]).encode()
    parsed = outcome(parse_batch, body)
    if parsed is not None:
        assert len(parsed) == len(items)
        return
    with pytest.raises(MalformedEvent) as caught:
        parse_batch(body)
    for violation in caught.value.violations:
        index = violation.pointer.split("/")[1]
        assert index.isdigit()
        assert int(index) < len(items)


header_names = st.sampled_from(
    [f"ce-{n}" for n in NAMES] + ["content-type", "CE-ID", "ce-", "x-other"]
) | st.text(max_size=12)
header_values = st.text(max_size=30) | st.sampled_from(["%", "%C0%A0", '"', '"a\\"', "%E2%82%AC"])


@FUZZ
@given(st.dictionaries(header_names, header_values, max_size=10), st.binary(max_size=50))
def test_random_headers_never_crash_binary_mode(headers: dict[str, str], body: bytes) -> None:
    event = outcome(parse_binary, {**{f"ce-{k}": v for k, v in VALID.items()}, **headers}, body)
    if event is not None:
        assert_round_trip(event)
    outcome(parse_http, headers, body)
