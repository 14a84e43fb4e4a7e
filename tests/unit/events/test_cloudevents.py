"""CloudEvents 1.0 parsing: each spec rule, each error with its pointer, and serialisation."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from interlink.errors import InterlinkError, MalformedEvent, Violation
from interlink.events.cloudevents import (
    ABSENT,
    MAX_ATTRIBUTE_LENGTH,
    MAX_DEPTH,
    MAX_EXTENSIONS,
    MAX_VIOLATIONS,
    CloudEvent,
    is_json,
    parse_batch,
    parse_binary,
    parse_http,
    parse_structured,
    pointer,
)

BASE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "A-1",
    "source": "/crm",
    "type": "customer.address-updated",
}
HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "A-1",
    "ce-source": "/crm",
    "ce-type": "customer.address-updated",
}


def structured(**changes: Any) -> bytes:
    """BASE with ``changes`` applied; a value of ``...`` removes the member."""
    event = {**BASE, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not ...}).encode()


def violations(call: Any, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(MalformedEvent) as caught:
        call(*args, **kwargs)
    return [(v.pointer, v.message) for v in caught.value.violations]


def assert_violation(found: list[tuple[str, str]], at: str, fragment: str) -> None:
    assert any(p == at and fragment in m for p, m in found), found


# --- structured mode: accepted -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {"data": ABSENT, "has_data": False}),
        ({"data": {"a": 1}}, {"data": {"a": 1}, "has_json_data": True}),
        ({"data": None}, {"data": None, "has_data": True}),  # explicit null is data
        ({"data": "just a string"}, {"data": "just a string", "has_json_data": True}),
        (
            {"datacontenttype": "text/plain", "data": "<p>"},
            {"data": "<p>", "has_json_data": False},
        ),
        (
            {"datacontenttype": "application/octet-stream", "data_base64": "AAEC/w=="},
            {"data": b"\x00\x01\x02\xff"},
        ),
        (  # JSON sent as base64 is held as the JSON value
            {"datacontenttype": "application/json", "data_base64": "eyJhIjpbMV19"},
            {"data": {"a": [1]}, "has_json_data": True},
        ),
        ({"datacontenttype": "application/vnd.x+json", "data": [1]}, {"data": [1]}),
        ({"datacontenttype": "text/json; charset=utf-8", "data": 1}, {"data": 1}),
        ({"subject": None, "time": None}, {"subject": None, "time": None}),  # null = absent
        ({"subject": "C000123"}, {"subject": "C000123"}),
        ({"time": "2018-04-05T17:31:00Z"}, {"time": "2018-04-05T17:31:00Z"}),
        (
            {"time": "2018-04-05t17:31:00.123456789+02:00"},
            {"time": "2018-04-05t17:31:00.123456789+02:00"},
        ),
        ({"time": "2016-12-31T23:59:60Z"}, {"time": "2016-12-31T23:59:60Z"}),  # leap second
        ({"time": "2024-02-29T00:00:00-23:59"}, {"time": "2024-02-29T00:00:00-23:59"}),
        ({"source": "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"}, {}),
        ({"source": "https://example.com/a/b?c=d&e=%20#frag"}, {}),
        ({"source": "relative/path"}, {}),
        ({"dataschema": "https://schemas.example.com/x/v1"}, {}),
        ({"dataschema": "urn:schema:x#v2"}, {}),
        ({"id": "€ 😀"}, {"id": "€ 😀"}),
        (
            {"x1": "v", "num": 5, "flag": False},
            {"extensions": {"x1": "v", "num": 5, "flag": False}},
        ),
        (
            {"big": 2**31 - 1, "small": -(2**31)},
            {"extensions": {"big": 2**31 - 1, "small": -(2**31)}},
        ),
        ({"a" * 20: "twenty"}, {"extensions": {"a" * 20: "twenty"}}),
        ({"unset": None}, {"extensions": {}}),
        ({"id": "x" * MAX_ATTRIBUTE_LENGTH}, {}),
    ],
)
def test_structured_events_that_follow_the_spec_are_accepted(
    changes: dict[str, Any], expected: dict[str, Any]
) -> None:
    event = parse_structured(structured(**changes))
    for name, value in expected.items():
        assert getattr(event, name) == value, name
    assert event.specversion == "1.0"
    assert event.type == BASE["type"]


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    assert parse_structured(b"\xef\xbb\xbf" + structured()).id == "A-1"


def test_data_nested_to_the_limit_is_accepted() -> None:
    data: Any = 1
    for _ in range(MAX_DEPTH):
        data = [data]
    assert parse_structured(structured(data=data)).data == data


# --- structured mode: each rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "at", "fragment"),
    [
        ({"specversion": ...}, "/specversion", "specversion is required"),
        ({"specversion": "0.3"}, "/specversion", "only 1.0 is accepted"),
        ({"specversion": 1.0}, "/specversion", "must be a string, not a number"),
        ({"id": ...}, "/id", "id is required"),
        ({"id": ""}, "/id", "must not be empty"),
        ({"id": 5}, "/id", "must be a string"),
        ({"id": "a\nb"}, "/id", "U+000A"),
        ({"id": "a\x7fb"}, "/id", "U+007F"),
        ({"id": "a\x85b"}, "/id", "U+0085"),
        ({"id": "a\ufffeb"}, "/id", "U+FFFE"),
        ({"id": "a\U0001ffffb"}, "/id", "U+1FFFF"),
        ({"id": "a\ufdd0b"}, "/id", "U+FDD0"),
        ({"id": "\ud800"}, "/id", "U+D800"),
        ({"id": "x" * (MAX_ATTRIBUTE_LENGTH + 1)}, "/id", "longer than"),
        ({"source": ...}, "/source", "source is required"),
        ({"source": ""}, "/source", "must not be empty"),
        ({"source": "/a b"}, "/source", "URI-reference"),
        ({"source": "/%zz"}, "/source", "URI-reference"),
        ({"source": "/é"}, "/source", "URI-reference"),
        ({"source": ["/a"]}, "/source", "not an array"),
        ({"type": ...}, "/type", "type is required"),
        ({"type": ""}, "/type", "must not be empty"),
        ({"type": True}, "/type", "not a boolean"),
        ({"datacontenttype": "json"}, "/datacontenttype", "media type"),
        ({"datacontenttype": ""}, "/datacontenttype", "media type"),
        ({"datacontenttype": {"a": 1}}, "/datacontenttype", "not an object"),
        ({"dataschema": "/relative/schema"}, "/dataschema", "absolute URI"),
        ({"dataschema": ""}, "/dataschema", "absolute URI"),
        ({"dataschema": "https://x/a b"}, "/dataschema", "absolute URI"),
        ({"subject": ""}, "/subject", "must not be empty"),
        ({"time": "2020-02-30T00:00:00Z"}, "/time", "RFC 3339"),
        ({"time": "2020-01-01 00:00:00Z"}, "/time", "RFC 3339"),
        ({"time": "2020-01-01T24:00:00Z"}, "/time", "RFC 3339"),
        ({"time": "2020-01-01T00:60:00Z"}, "/time", "RFC 3339"),
        ({"time": "2020-01-01T00:00:61Z"}, "/time", "RFC 3339"),
        ({"time": "2020-01-01T00:00:00"}, "/time", "RFC 3339"),
        ({"time": "2020-01-01T00:00:00+24:00"}, "/time", "RFC 3339"),
        ({"time": "2020-01-01T00:00:00.Z"}, "/time", "RFC 3339"),
        ({"time": "2020-01-01"}, "/time", "RFC 3339"),
        ({"time": "٢٠٢٠-01-01T00:00:00Z"}, "/time", "RFC 3339"),
        ({"time": 1714566600}, "/time", "must be a string"),
        ({"Bad": "x"}, "/Bad", "1-20 characters of a-z and 0-9"),
        ({"a_b": "x"}, "/a_b", "1-20 characters"),
        ({"a" * 21: "x"}, "/" + "a" * 21, "1-20 characters"),
        ({"a/b~c": "x"}, "/a~1b~0c", "1-20 characters"),
        ({"ext": 1.5}, "/ext", "not a number"),
        ({"ext": [1]}, "/ext", "not an array"),
        ({"ext": {"a": 1}}, "/ext", "not an object"),
        ({"ext": 2**31}, "/ext", "32 bits"),
        ({"ext": -(2**31) - 1}, "/ext", "32 bits"),
        ({"ext": "a\x00"}, "/ext", "U+0000"),
        ({"data": 1, "data_base64": "AQ=="}, "/data_base64", "exclude each other"),
        ({"data_base64": "not base64!"}, "/data_base64", "not valid base64"),
        ({"data_base64": 12}, "/data_base64", "base64 string"),
        ({"data_base64": "bm90IGpzb24="}, "/data_base64", "not valid JSON"),
        ({"datacontenttype": "text/plain", "data": {"a": 1}}, "/data", "must be a string"),
        ({"data": {"k": "\ud800"}}, "/data", "unpaired UTF-16 surrogate"),
        ({"data": {"\udfff": 1}}, "/data", "unpaired UTF-16 surrogate"),
    ],
)
def test_each_structured_rule_is_enforced_at_its_pointer(
    changes: dict[str, Any], at: str, fragment: str
) -> None:
    assert_violation(violations(parse_structured, structured(**changes)), at, fragment)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[]", "is a JSON object"),
        (b'"event"', "is a JSON object"),
        (b"null", "is a JSON object"),
        (structured()[:-1] + b',"data":NaN}', "NaN is not JSON"),
        (structured()[:-1] + b',"data":-Infinity}', "-Infinity is not JSON"),
        (structured()[:-1] + b',"data":1e400}', "out of range"),
        (structured()[:-1] + b',"data":' + b"9" * 5000 + b"}", "not valid JSON"),
        (structured()[:-1] + b',"data":' + b"[" * 100 + b"]" * 100 + b"}", "nests too deeply"),
        (b"[" * 200_000 + b"]" * 200_000, "nests too deeply"),  # deeper than the recursion limit
        (b'{"data":' * 100_000, "nests too deeply"),  # unterminated, and too deep first
    ],
)
def test_documents_that_are_not_a_json_event_are_refused_at_the_root(
    body: bytes, fragment: str
) -> None:
    found = violations(parse_structured, body)
    assert_violation(found, "", fragment)


def test_every_violation_of_one_event_is_reported_together() -> None:
    found = violations(parse_structured, structured(id="", type=..., time="now", Bad=1))
    assert [p for p, _ in found] == ["/id", "/type", "/time", "/Bad"]


def test_too_many_extensions_are_refused() -> None:
    many = {f"x{i}": "v" for i in range(MAX_EXTENSIONS + 1)}
    assert_violation(violations(parse_structured, structured(**many)), "", "more than 64")
    assert len(parse_structured(structured(**dict(list(many.items())[:-1]))).extensions) == 64


def test_malformed_event_is_a_400_problem_with_a_summary() -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_structured(structured(id="", type=""))
    error = caught.value
    assert isinstance(error, InterlinkError)
    assert (error.status, error.title) == (400, "Malformed CloudEvent")
    assert error.violations == [
        Violation("/id", "id must not be empty"),
        Violation("/type", "type must not be empty"),
    ]
    assert str(error) == "/id: id must not be empty (and 1 more)"


# --- binary mode -------------------------------------------------------------------------------


def test_binary_mode_reads_headers_content_type_and_body() -> None:
    headers = {
        "CE-SpecVersion": "1.0",
        "Ce-Id": "A-1",
        "ce-source": "/crm",
        "ce-type": "t",
        "ce-time": "2018-04-05T03:56:24Z",
        "ce-traceparent": "00-abc-01",
        "Content-Type": "application/json; charset=utf-8",
        "Content-Length": "9",
        "Host": "ingress",
    }
    event = parse_binary(headers, b'{"a": 1}')
    assert event.data == {"a": 1}
    assert event.datacontenttype == "application/json; charset=utf-8"
    assert event.time == "2018-04-05T03:56:24Z"
    assert event.extensions == {"traceparent": "00-abc-01"}


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀"),
        ("lower%e2%82%accase", "lower€case"),
        ("%41%42C", "ABC"),  # needlessly encoded is fine
        ("100%", "100%"),  # a '%' that starts no octet stays
        ('"quoted value"', "quoted value"),
        ('"with \\"escapes\\" and \\\\"', 'with "escapes" and \\'),
        ('"%22percent%22 in quotes"', '"percent" in quotes'),
        ("  padded  ", "padded"),
    ],
)
def test_binary_header_values_are_unquoted_then_percent_decoded(raw: str, decoded: str) -> None:
    assert parse_binary({**HEADERS, "ce-subject": raw}, b"").subject == decoded


@pytest.mark.parametrize(
    ("headers", "at", "fragment"),
    [
        ({"ce-id": ...}, "/id", "id is required"),
        ({"ce-id": "%C0%A0"}, "/id", "not valid UTF-8"),  # overlong encoding of a space
        ({"ce-id": "%ED%A0%80"}, "/id", "not valid UTF-8"),  # an encoded surrogate
        ({"ce-id": "%FF"}, "/id", "not valid UTF-8"),
        ({"ce-id": "a%0Ab"}, "/id", "U+000A"),
        ({"ce-id": "café"}, "/id", "printable ASCII"),
        ({"ce-id": "a\tb"}, "/id", "printable ASCII"),
        ({"ce-id": "x" * (3 * MAX_ATTRIBUTE_LENGTH + 3)}, "/id", "longer than"),
        ({"ce-id": "%41" * (MAX_ATTRIBUTE_LENGTH + 1)}, "/id", "longer than"),
        ({"ce-specversion": "0.3"}, "/specversion", "only 1.0"),
        ({"ce-source": "a b"}, "/source", "URI-reference"),
        ({"ce-source": "a%20b"}, "/source", "URI-reference"),  # decoded first: a space
        ({"ce-datacontenttype": "application/json"}, "/datacontenttype", "Content-Type header"),
        ({"ce-data": "x"}, "/data", "does not name a valid attribute"),
        ({"ce-data_base64": "x"}, "/data_base64", "does not name a valid attribute"),
        ({"ce-Bad!": "x"}, "/bad!", "does not name a valid attribute"),
        ({"ce-time": "yesterday"}, "/time", "RFC 3339"),
        ({"content-type": "application/cloudevents+json"}, "/datacontenttype", "not binary"),
        ({"content-type": "not a media type"}, "/datacontenttype", "media type"),
    ],
)
def test_each_binary_rule_is_enforced_at_its_pointer(
    headers: dict[str, Any], at: str, fragment: str
) -> None:
    merged = {k: v for k, v in {**HEADERS, **headers}.items() if v is not ...}
    assert_violation(violations(parse_binary, merged, b""), at, fragment)


def test_a_header_given_twice_is_refused() -> None:
    found = violations(parse_binary, {**HEADERS, "CE-ID": "B-2"}, b"")
    assert_violation(found, "/id", "given more than once")


def test_too_many_extension_headers_are_refused() -> None:
    many = {f"ce-x{i}": "v" for i in range(MAX_EXTENSIONS + 1)}
    assert_violation(violations(parse_binary, {**HEADERS, **many}, b""), "", "more than 64")


@pytest.mark.parametrize(
    ("content_type", "body", "data"),
    [
        (None, b"", ABSENT),
        ("application/json", b"", ABSENT),
        (None, b'{"a":1}', {"a": 1}),  # no Content-Type: read as JSON
        ("application/problem+json", b"[1]", [1]),
        ("application/json", b'"text"', "text"),
        ("application/json", b"null", None),
        ("text/plain", b"plain \xff bytes", b"plain \xff bytes"),
        ("application/octet-stream", b"\x00\x01", b"\x00\x01"),
    ],
)
def test_binary_body_is_data(content_type: str | None, body: bytes, data: Any) -> None:
    headers = dict(HEADERS)
    if content_type is not None:
        headers["Content-Type"] = content_type
    assert parse_binary(headers, body).data == data


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{", "not valid JSON"),
        (b"\xff", "not UTF-8"),
        (b"[" * 100 + b"]" * 100, "nests too deeply"),
        (b'"\\ud800"', "unpaired UTF-16 surrogate"),
        (b"NaN", "NaN is not JSON"),
    ],
)
def test_binary_json_body_errors_point_at_data(body: bytes, fragment: str) -> None:
    found = violations(parse_binary, {**HEADERS, "content-type": "application/json"}, body)
    assert_violation(found, "/data", fragment)


def test_binary_attribute_and_data_errors_are_reported_together() -> None:
    found = violations(parse_binary, {**HEADERS, "ce-id": ""}, b"{")
    assert [p for p, _ in found] == ["/id", "/data"]


# --- content mode dispatch ---------------------------------------------------------------------


def test_parse_http_picks_the_content_mode_from_content_type() -> None:
    one = parse_http({"Content-Type": "application/cloudevents+json; charset=UTF-8"}, structured())
    assert [e.id for e in one] == ["A-1"]
    many = b"[" + structured() + b"," + structured(id="B-2") + b"]"
    assert [
        e.id for e in parse_http({"content-type": "application/cloudevents-batch+json"}, many)
    ] == [
        "A-1",
        "B-2",
    ]
    binary = parse_http({**HEADERS, "content-type": "application/json"}, b"[1]")
    assert binary[0].data == [1]
    found = violations(parse_http, {"content-type": "application/cloudevents+avro"}, b"")
    assert_violation(found, "", "unsupported event format")
    with pytest.raises(MalformedEvent):
        parse_http({"content-type": "application/cloudevents-batch+json"}, many, max_events=1)


# --- batches -----------------------------------------------------------------------------------


def test_a_batch_is_a_list_of_structured_events() -> None:
    assert parse_batch(b"[]") == []
    events = parse_batch(b"[" + structured(data={"n": 1}) + b"," + structured(id="B") + b"]")
    assert [(e.id, e.data) for e in events] == [("A-1", {"n": 1}), ("B", ABSENT)]


def test_batch_errors_carry_the_index_of_the_event() -> None:
    items = [
        {**BASE},
        5,
        {k: v for k, v in BASE.items() if k != "id"},
        {**BASE, "Bad": 1, "time": "now"},
        {**BASE, "data": 1, "data_base64": "AQ=="},
    ]
    found = violations(parse_batch, json.dumps(items).encode())
    assert [p for p, _ in found] == ["/1", "/2/id", "/3/time", "/3/Bad", "/4/data_base64"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (structured(), "is a JSON array"),
        (b"{", "not valid JSON"),
        (b"[" + b"[" * 100 + b"]" * 100 + b"]", "nests too deeply"),
    ],
)
def test_batch_document_errors_are_at_the_root(body: bytes, fragment: str) -> None:
    assert_violation(violations(parse_batch, body), "", fragment)


def test_batch_length_is_bounded() -> None:
    body = json.dumps([BASE] * 3).encode()
    assert len(parse_batch(body, max_events=3)) == 3
    found = violations(parse_batch, body, max_events=2)
    assert found == [("", "the batch holds 3 events; at most 2 allowed")]
    assert len(parse_batch(json.dumps([BASE] * 1000).encode())) == 1000
    assert_violation(violations(parse_batch, json.dumps([BASE] * 1001).encode()), "", "1001")


def test_violations_listed_are_bounded() -> None:
    body = json.dumps([{"specversion": "1.0"}] * 200).encode()
    found = violations(parse_batch, body)
    assert len(found) == MAX_VIOLATIONS + 1
    assert found[0] == ("/0/id", "id is required")
    assert found[-1] == ("", f"{200 * 3 - MAX_VIOLATIONS} more not listed")


# --- serialisation -----------------------------------------------------------------------------


def test_to_structured_is_compact_with_a_stable_key_order() -> None:
    event = parse_structured(
        json.dumps(
            {
                "data": {"z": 1, "a": "é"},
                "zext": True,
                "time": "2018-04-05T17:31:00Z",
                "aext": 1,
                "type": "t",
                "subject": "s",
                "source": "/s",
                "dataschema": "urn:x",
                "id": "1",
                "datacontenttype": "application/json",
                "specversion": "1.0",
            }
        ).encode()
    )
    assert (
        event.to_structured()
        == (
            '{"specversion":"1.0","id":"1","source":"/s","type":"t",'
            '"datacontenttype":"application/json","dataschema":"urn:x","subject":"s",'
            '"time":"2018-04-05T17:31:00Z","aext":1,"zext":true,"data":{"z":1,"a":"é"}}'
        ).encode()
    )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"data": None},
        {"data": {"nested": [1, 2.5, "x", None, True]}},
        {"datacontenttype": "application/octet-stream", "data_base64": "AAEC"},
        {"datacontenttype": "text/csv", "data": "a,b\n1,2"},
        {"subject": "s", "time": "2020-01-01T00:00:00Z", "x": 1, "y": "z", "b": False},
    ],
)
def test_structured_form_parses_back_to_the_same_event(changes: dict[str, Any]) -> None:
    event = parse_structured(structured(**changes))
    assert parse_structured(event.to_structured()) == event


def test_binary_data_is_written_as_data_base64() -> None:
    event = parse_binary({**HEADERS, "content-type": "image/png"}, b"\x89PNG")
    body = json.loads(event.to_structured())
    assert body["data_base64"] == base64.b64encode(b"\x89PNG").decode()
    assert "data" not in body


def test_a_hand_built_event_with_a_lone_surrogate_still_serialises() -> None:
    event = CloudEvent(id="1", source="/s", type="t", data={"k": "\ud800"})
    assert b'"k":"\\ud800"' in event.to_structured()


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (None, True),
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("text/json", True),
        ("application/cloudevents+json", True),
        ("application/xml", False),
        ("text/plain", False),
        ("application/jsonx", False),
    ],
)
def test_is_json(content_type: str | None, expected: bool) -> None:
    assert is_json(content_type) is expected


def test_pointer_escapes_tokens() -> None:
    assert pointer() == ""
    assert pointer("data", "a/b", "c~d", 3) == "/data/a~1b/c~0d/3"
