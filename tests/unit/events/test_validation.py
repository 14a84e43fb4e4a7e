"""The schema registry: version selection, data violations with pointers, keys, limits, $refs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlink.errors import (
    BusError,
    ContractError,
    InvalidEventData,
    PayloadTooLarge,
    UnknownEventType,
)
from interlink.estate.check import check_estate
from interlink.estate.kinds.base import Lifecycle
from interlink.estate.model import Estate
from interlink.events.bus import Envelope
from interlink.events.cloudevents import (
    MAX_VIOLATIONS,
    CloudEvent,
    parse_binary,
    parse_structured,
)
from interlink.events.validation import EventRegistry, EventType, SchemaVersion
from tests.unit.estate.helpers import RETAIL, copy_retail, edit, write

TYPE = "customer.address-updated"
V1 = "https://schemas.example.com/retail/customer.address-updated/v1"
V2 = "https://schemas.example.com/retail/customer.address-updated/v2"
EVENT_FILE = "events/customer-address-updated.yaml"
DATA: dict[str, Any] = {
    "customerId": "C000123",
    "address": {
        "street": "1 Main St",
        "city": "Springfield",
        "postalCode": "12345",
        "country": "US",
    },
    "changedAt": "2024-05-01T12:00:00Z",
}


def event(data: Any = DATA, **attrs: Any) -> CloudEvent:
    doc = {"specversion": "1.0", "id": "e-1", "source": "/crm", "type": TYPE, **attrs}
    if data is not ...:
        doc["data"] = data
    return parse_structured(json.dumps(doc).encode())


@pytest.fixture(scope="module")
def registry() -> EventRegistry:
    result = check_estate(RETAIL)
    assert result.ok
    return EventRegistry.from_estate(result.estate)


def retail_estate(tmp_path: Path, *edits: tuple[str, str, str]) -> Estate:
    root = copy_retail(tmp_path / "retail")
    for relative, old, new in edits:
        edit(root / relative, old, new)
    return check_estate(root).estate


def invalid(registry: EventRegistry, ev: CloudEvent) -> list[tuple[str, str]]:
    with pytest.raises(InvalidEventData) as caught:
        registry.check(ev)
    return [(v.pointer, v.message) for v in caught.value.violations]


def registry_for(schema: Any, ordering_key: str | None = None) -> EventRegistry:
    """A one-type registry over an in-memory schema."""
    version = SchemaVersion(
        1,
        Lifecycle.ACTIVE,
        Path("x.json"),
        None,
        jsonschema_rs.validator_for(schema, validate_formats=True),
    )
    key = tuple(ordering_key.split(".")) if ordering_key else None
    etype = EventType(TYPE, Lifecycle.ACTIVE, {1: version}, key)
    return EventRegistry({TYPE: etype}, max_payload_bytes=1 << 20)


# --- the happy path ----------------------------------------------------------------------------


def test_a_valid_event_becomes_an_envelope(registry: EventRegistry) -> None:
    ev = event(time="2024-05-01T12:00:00Z")
    envelope = registry.check(ev)
    assert envelope == Envelope(
        type=TYPE, id="e-1", source="/crm", key="C000123", body=ev.to_structured()
    )
    assert json.loads(envelope.body)["data"] == DATA
    assert len(envelope.dedup_id) == 32


def test_a_binary_mode_event_checks_the_same_way(registry: EventRegistry) -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "e-1", "ce-source": "/crm", "ce-type": TYPE}
    ev = parse_binary({**headers, "content-type": "application/json"}, json.dumps(DATA).encode())
    assert registry.check(ev).key == "C000123"


def test_schemas_are_compiled_up_front(registry: EventRegistry) -> None:
    etype = registry.types[TYPE]
    assert [v.version for v in etype.versions.values()] == [1, 2]
    assert [v.schema_id for v in etype.versions.values()] == [V1, V2]
    assert etype.ordering_key == ("customerId",)
    assert registry.max_payload_bytes == 1_048_576  # the Platform default


# --- choosing the schema version ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataschema", "version"),
    [
        (None, 2),  # the latest active version
        (V1, 1),
        (V2, 2),
        (V1 + "#", 1),
        ("urn:retail:customer.address-updated#v1", 1),
        ("https://registry.example.com/schemas/customer/v2", 2),
        ("https://registry.example.com/schemas?subject=customer&version=1", 1),
        ("https://registry.example.com/schemas?version=2#top", 2),
    ],
)
def test_dataschema_picks_the_version(
    registry: EventRegistry, dataschema: str | None, version: int
) -> None:
    attrs = {} if dataschema is None else {"dataschema": dataschema}
    assert registry.schema_for(event(**attrs)).version == version


@pytest.mark.parametrize(
    ("dataschema", "fragment"),
    [
        (
            "https://schemas.example.com/retail/customer.address-updated/v3",
            "no schema version 3 (it has 1, 2)",
        ),
        ("urn:x#v0", "no schema version 0"),
        ("https://schemas.example.com/retail/customer", "does not name a schema version"),
        ("https://x.example.com/v1/schema", "does not name a schema version"),
        ("urn:x?version=two", "does not name a schema version"),
    ],
)
def test_a_dataschema_naming_no_version_is_refused(
    registry: EventRegistry, dataschema: str, fragment: str
) -> None:
    found = invalid(registry, event(dataschema=dataschema))
    assert len(found) == 1
    assert found[0][0] == "/dataschema"
    assert fragment in found[0][1]


def test_the_named_version_is_the_one_validated(registry: EventRegistry) -> None:
    without_postcode = {
        **DATA,
        "address": {k: v for k, v in DATA["address"].items() if k != "postalCode"},
    }
    registry.check(event(without_postcode))  # v2: postalCode is optional
    registry.check(event(without_postcode, dataschema=V2))
    found = invalid(registry, event(without_postcode, dataschema=V1))
    assert found == [("/data/address", "missing required property 'postalCode'")]


@pytest.mark.parametrize(
    ("v1", "v2", "dataschema", "expected"),
    [
        ("active", "deprecated", None, 1),
        ("active", "draft", None, 1),
        ("active", "draft", "#v2", 2),  # a draft may be named explicitly
        ("deprecated", "active", "#v1", 1),  # so may a deprecated one
        ("deprecated", "deprecated", "#v1", 1),
        ("retired", "active", None, 2),
        (
            "retired",
            "active",
            "#v1",
            "schema version 1 of customer.address-updated is retired; use version 2",
        ),
        ("active", "retired", "#v2", "is retired; use version 1"),
        ("retired", "retired", "#v1", "is retired"),
        ("retired", "retired", None, "has no active schema version; name one in dataschema"),
        ("deprecated", "draft", None, "has no active schema version"),
    ],
)
def test_lifecycle_decides_the_default_and_refuses_retired_versions(
    tmp_path: Path, v1: str, v2: str, dataschema: str | None, expected: int | str
) -> None:
    estate = retail_estate(
        tmp_path,
        (EVENT_FILE, "v1.schema.json}", f"v1.schema.json, lifecycle: {v1}}}"),
        (EVENT_FILE, "v2.schema.json}", f"v2.schema.json, lifecycle: {v2}}}"),
    )
    registry = EventRegistry.from_estate(estate)
    ev = event(**({} if dataschema is None else {"dataschema": "urn:x" + dataschema}))
    if isinstance(expected, int):
        assert registry.schema_for(ev).version == expected
        registry.check(ev)
    else:
        found = invalid(registry, ev)
        assert found[0][0] == "/dataschema"
        assert expected in found[0][1]


# --- refusals ----------------------------------------------------------------------------------


def test_an_unknown_type_is_refused_with_a_hint(registry: EventRegistry) -> None:
    with pytest.raises(UnknownEventType) as caught:
        registry.check(event(type="customer.adress-updated"))
    error = caught.value
    assert isinstance(error, BusError)
    assert (error.status, error.title) == (404, "Unknown event type")
    assert str(error) == (
        "no Event named 'customer.adress-updated' in the estate; "
        "did you mean 'customer.address-updated'?"
    )


def test_a_retired_event_type_takes_no_events(tmp_path: Path) -> None:
    estate = retail_estate(tmp_path, (EVENT_FILE, "spec:\n", "spec:\n  lifecycle: retired\n"))
    with pytest.raises(UnknownEventType, match="is retired"):
        EventRegistry.from_estate(estate).check(event())


def test_payload_size_is_bounded() -> None:
    estate = check_estate(RETAIL).estate
    ev = event()
    size = len(ev.to_structured())
    EventRegistry.from_estate(estate, max_payload_bytes=size).check(ev)
    with pytest.raises(PayloadTooLarge) as caught:
        EventRegistry.from_estate(estate, max_payload_bytes=size - 1).check(ev)
    assert str(caught.value) == f"the event is {size} bytes; at most {size - 1} are accepted"
    assert (caught.value.status, caught.value.title) == (413, "Payload too large")
    assert isinstance(caught.value, BusError)


def test_an_event_without_data_is_refused(registry: EventRegistry) -> None:
    assert invalid(registry, event(...)) == [
        ("/data", f"{TYPE} events carry data; this one has none")
    ]


@pytest.mark.parametrize(
    "ev",
    [
        event("<xml/>", datacontenttype="application/xml"),
        CloudEvent(
            id="1", source="/s", type=TYPE, data=b"{}", datacontenttype="application/octet-stream"
        ),
    ],
)
def test_data_that_is_not_json_is_refused(registry: EventRegistry, ev: CloudEvent) -> None:
    found = invalid(registry, ev)
    assert found == [
        ("/datacontenttype", f"event schemas describe JSON data; {ev.datacontenttype} is not JSON")
    ]


# --- data violations ---------------------------------------------------------------------------


def with_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(DATA)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for part in parents:
            node = node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "violations"),
    [
        (with_data(customerId="X1"), [("/data/customerId", "must match the pattern ^C[0-9]{6}$")]),
        (with_data(customerId=5), [("/data/customerId", "must be of type string")]),
        (with_data(address=...), [("/data", "missing required property 'address'")]),
        (
            with_data(address__country="usa"),
            [("/data/address/country", "must match the pattern ^[A-Z]{2}$")],
        ),
        (
            with_data(address__street="s" * 201),
            [("/data/address/street", "must be at most 200 characters long")],
        ),
        (with_data(changedAt="yesterday"), [("/data/changedAt", "must be a valid date-time")]),
        (
            with_data(changedAt="2024-02-30T00:00:00Z"),
            [("/data/changedAt", "must be a valid date-time")],
        ),
        ([], [("/data", "must be of type object")]),
        (None, [("/data", "must be of type object")]),
        (
            with_data(customerId=..., address__city=..., changedBy=7),
            [
                ("/data", "missing required property 'customerId'"),
                ("/data/address", "missing required property 'city'"),
                ("/data/changedBy", "must be of type string"),
            ],
        ),
    ],
)
def test_every_data_violation_points_into_the_event(
    registry: EventRegistry, data: Any, violations: list[tuple[str, str]]
) -> None:
    found = invalid(registry, event(data, dataschema=V1))
    assert sorted(found) == sorted(violations)


def test_invalid_event_data_is_a_422_problem(registry: EventRegistry) -> None:
    with pytest.raises(InvalidEventData) as caught:
        registry.check(event(with_data(customerId="X1", changedAt="no")))
    error = caught.value
    assert (error.status, error.title) == (422, "Invalid event data")
    assert str(error) == "/data/customerId: must match the pattern ^C[0-9]{6}$ (and 1 more)"


def test_messages_never_repeat_the_offending_value(registry: EventRegistry) -> None:
    secret_street = "Secret Lane " * 30
    found = invalid(
        registry, event(with_data(address__street=secret_street, customerId="Jane Doe"))
    )
    assert found
    assert all("Secret" not in m and "Jane" not in m for _, m in found)


@pytest.mark.parametrize(
    ("schema", "data", "message"),
    [
        ({"type": ["string", "null"]}, 1, "must be of type null or string"),
        ({"minLength": 2}, "a", "must be at least 2 characters long"),
        ({"maximum": 5}, 6, "must be at most 5"),
        ({"minimum": 5}, 4, "must be at least 5"),
        ({"exclusiveMaximum": 5}, 5, "must be less than 5"),
        ({"exclusiveMinimum": 5}, 5, "must be greater than 5"),
        ({"multipleOf": 3}, 4, "must be a multiple of 3"),
        ({"maxItems": 1}, [1, 2], "must have at most 1 items"),
        ({"minItems": 3}, [1], "must have at least 3 items"),
        ({"maxProperties": 0}, {"a": 1}, "must have at most 0 properties"),
        ({"minProperties": 2}, {"a": 1}, "must have at least 2 properties"),
        ({"uniqueItems": True}, [1, 1], "must not hold the same item twice"),
        ({"enum": ["a", 1]}, "b", 'must be one of "a", 1'),
        ({"const": {"k": "v"}}, 1, 'must be {"k":"v"}'),
        (
            {"properties": {"a": {}}, "additionalProperties": False},
            {"x": 1, "y": 2},
            "has properties the schema does not allow: 'x', 'y'",
        ),
        (
            {"unevaluatedProperties": False},
            {"x": 1},
            "has properties the schema does not allow: 'x'",
        ),
        ({"prefixItems": [{}], "items": False}, [1, 2], "is not allowed here"),
        ({"contains": {"type": "string"}}, [1], "has no item that matches 'contains'"),
        ({"anyOf": [{"type": "string"}]}, 1, "matches none of the 'anyOf' alternatives"),
        ({"oneOf": [{"type": "string"}]}, 1, "matches none of the 'oneOf' alternatives"),
        ({"oneOf": [{}, {}]}, 1, "matches more than one of the 'oneOf' alternatives"),
        ({"not": {}}, 1, "matches a schema it must not match ('not')"),
        (
            {"propertyNames": {"maxLength": 1}},
            {"ab": 1},
            "has a property name the schema does not allow",
        ),
        ({"format": "email"}, "not-an-email", "must be a valid email"),
        ({"dependentRequired": {"a": ["b"]}}, {"a": 1}, "missing required property 'b'"),
        ({"enum": ["x" * 300]}, "y", "must be one of"),
    ],
)
def test_violation_messages_name_the_rule(schema: dict[str, Any], data: Any, message: str) -> None:
    found = invalid(registry_for(schema), event(data))
    assert len(found) == 1
    assert found[0][1].startswith(message)
    assert len(found[0][1]) <= 200


def test_violations_are_bounded() -> None:
    found = invalid(registry_for({"items": {"type": "integer"}}), event(["x"] * 500))
    assert len(found) == MAX_VIOLATIONS
    assert found[:2] == [
        ("/data/0", "must be of type integer"),
        ("/data/1", "must be of type integer"),
    ]


def test_pointers_escape_property_names() -> None:
    schema = {"properties": {"a/b": {"properties": {"c~d": {"type": "string"}}}}}
    assert invalid(registry_for(schema), event({"a/b": {"c~d": 1}})) == [
        ("/data/a~1b/c~0d", "must be of type string")
    ]


# --- ordering keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ordering_key", "data", "key"),
    [
        ("customerId", {"customerId": "C1"}, "C1"),
        ("customer.id", {"customer": {"id": "C2"}}, "C2"),
        ("customer.id", {"customer": {"id": 42}}, "42"),
        ("n", {"n": 1.5}, "1.5"),
        ("flag", {"flag": True}, "true"),
        ("tags.1", {"tags": ["a", "b"]}, "b"),
        ("tags.5", {"tags": ["a", "b"]}, None),
        ("customer", {"customer": {"z": 1, "a": "é"}}, '{"a":"é","z":1}'),
        ("customer.id", {"customer": None}, None),
        ("customer.id", {"customer": "flat"}, None),
        ("customer.id", {}, None),
        ("missing", {"missing": None}, None),
        (None, {"customerId": "C1"}, None),
        ("customerId", ["not", "an", "object"], None),
    ],
)
def test_the_ordering_key_is_read_from_the_data(
    ordering_key: str | None, data: Any, key: str | None
) -> None:
    assert registry_for({}, ordering_key).check(event(data)).key == key


def test_the_estate_ordering_key_is_used(tmp_path: Path) -> None:
    estate = retail_estate(
        tmp_path, (EVENT_FILE, "orderingKey: customerId", "orderingKey: address.country")
    )
    assert EventRegistry.from_estate(estate).check(event()).key == "US"
    estate = retail_estate(tmp_path / "2", (EVENT_FILE, "  orderingKey: customerId\n", ""))
    assert EventRegistry.from_estate(estate).check(event()).key is None


# --- $ref resolution ---------------------------------------------------------------------------

ORDER_EVENT = """\
apiVersion: interlink/v1
kind: Event
metadata:
  name: order.placed
  owner: sales
spec:
  system: crm
  schemas:
    - {version: 1, file: ../contracts/orders/order.v1.json}
  orderingKey: customer.id
"""


def order_estate(tmp_path: Path, schema: dict[str, Any], files: dict[str, str]) -> Estate:
    root = copy_retail(tmp_path / "retail")
    write(root, "events/order.yaml", ORDER_EVENT)
    write(root, "contracts/orders/order.v1.json", json.dumps(schema))
    for relative, text in files.items():
        write(root, relative, text)
    return check_estate(root).estate


def order(data: Any) -> CloudEvent:
    return parse_structured(
        json.dumps(
            {
                "specversion": "1.0",
                "id": "o",
                "source": "/shop",
                "type": "order.placed",
                "data": data,
            }
        ).encode()
    )


CUSTOMER = json.dumps(
    {
        "type": "object",
        "required": ["id", "address"],
        "properties": {
            "id": {"type": "string", "pattern": "^C"},
            "address": {"$ref": "address.json"},
        },
    }
)
ADDRESS = json.dumps({"type": "object", "required": ["country"]})
MONEY = "type: number\nminimum: 0\n"


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "https://schemas.example.com/shop/order.placed/v1",
                "type": "object",
                "required": ["customer", "total"],
                "properties": {
                    "customer": {"$ref": "common/customer.json"},
                    "total": {"$ref": "#/$defs/total"},
                    "shipTo": {"$ref": V1 + "#/properties/address"},
                },
                "$defs": {"total": {"$ref": "common/money.yaml"}},
            },
            id="https-id",
        ),
        pytest.param(
            {
                "type": "object",
                "required": ["customer", "total"],
                "properties": {
                    "customer": {"$ref": "./common/customer.json"},
                    "total": {"$ref": "common/money.yaml#"},
                    "shipTo": {"$ref": V1 + "#/properties/address"},
                },
            },
            id="no-id",
        ),
    ],
)
def test_local_relative_and_estate_references_resolve(
    tmp_path: Path, schema: dict[str, Any]
) -> None:
    files = {
        "contracts/orders/common/customer.json": CUSTOMER,
        "contracts/orders/common/address.json": ADDRESS,
        "contracts/orders/common/money.yaml": MONEY,
    }
    registry = EventRegistry.from_estate(order_estate(tmp_path, schema, files))
    good = {"customer": {"id": "C1", "address": {"country": "GB"}}, "total": 5}
    assert registry.check(order(good)).key == "C1"
    bad = {
        "customer": {"id": "X", "address": {}},
        "total": -1,
        "shipTo": {"street": "s", "city": "c", "postalCode": "p", "country": "gb"},
    }
    assert sorted(invalid(registry, order(bad))) == [
        ("/data/customer/address", "missing required property 'country'"),
        ("/data/customer/id", "must match the pattern ^C"),
        ("/data/shipTo/country", "must match the pattern ^[A-Z]{2}$"),
        ("/data/total", "must be at least 0"),
    ]


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("https://elsewhere.example.com/schemas/x.json", "neither an estate schema nor a file"),
        ("missing.json", "missing.json"),
        ("#/$defs/nope", "/$defs/nope"),
        ("bad.json", "invalid JSON"),
    ],
)
def test_an_unresolvable_reference_stops_the_registry(
    tmp_path: Path, ref: str, fragment: str
) -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": ref}}}
    estate = order_estate(tmp_path, schema, {"contracts/orders/bad.json": "{"})
    with pytest.raises(ContractError) as caught:
        EventRegistry.from_estate(estate)
    assert str(caught.value).startswith(
        "Event order.placed version 1 (../contracts/orders/order.v1.json)"
    )
    assert fragment in str(caught.value)


def test_a_schema_missing_from_the_estate_is_a_contract_error(tmp_path: Path) -> None:
    root = copy_retail(tmp_path / "retail")
    write(root, "events/order.yaml", ORDER_EVENT)
    with pytest.raises(ContractError, match=r"order\.v1\.json"):
        EventRegistry.from_estate(check_estate(root).estate)


# --- fuzzing -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "customerId": json_values | st.sampled_from(["C000001", "C1"]),
        "address": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                k: json_values | st.just("GB") for k in ("street", "city", "postalCode", "country")
            },
        ),
        "changedAt": json_values | st.just("2024-05-01T12:00:00Z"),
        "changedBy": json_values,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=json_values | payloads,
    dataschema=st.none()
    | st.text(max_size=30)
    | st.sampled_from([V1, V2, "urn:x#v3", "urn:x?version=1"]),
    content_type=st.none()
    | st.sampled_from(["application/json", "text/plain", "application/x+json"]),
)
def test_checking_any_event_answers_with_an_envelope_or_an_interlink_error(
    registry: EventRegistry, data: Any, dataschema: str | None, content_type: str | None
) -> None:
    ev = CloudEvent(
        id="1",
        source="/s",
        type=TYPE,
        data=data,
        dataschema=dataschema,
        datacontenttype=content_type,
    )
    try:
        envelope = registry.check(ev)
    except (InvalidEventData, PayloadTooLarge):
        return
    assert envelope.key == data["customerId"]
    assert json.loads(envelope.body)["data"] == data


def test_data_that_cannot_be_json_is_invalid(registry: EventRegistry) -> None:
    ev = CloudEvent(id="1", source="/s", type=TYPE, data={"n": float("inf")})
    assert invalid(registry, ev) == [
        ("/data", "cannot be written as JSON: Out of range float values are not JSON compliant")
    ]
