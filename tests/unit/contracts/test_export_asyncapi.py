"""`interlink export asyncapi`: the estate's events as one AsyncAPI 3.0.0 document."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from interlink.contracts.asyncapi import SCHEMA_FORMAT, asyncapi_document
from interlink.contracts.export_sources import embed_schema
from interlink.estate.model import Estate
from tests.unit.contracts.export_helpers import asyncapi_errors, checked, dangling, pointer
from tests.unit.estate.helpers import RETAIL, copy_retail, edit

EVENT = "customer.address-updated"
EVENT_FILE = "events/customer-address-updated.yaml"


@pytest.fixture(scope="module")
def retail() -> Estate:
    return checked(RETAIL)


@pytest.fixture(scope="module")
def doc(retail: Estate) -> dict[str, Any]:
    return asyncapi_document(retail, version="abc123")


@pytest.fixture
def editable(tmp_path: Path) -> Path:
    return copy_retail(tmp_path / "retail")


def test_the_retail_export_is_valid_asyncapi_3(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert asyncapi_errors(doc) == []


def test_the_official_schema_rejects_what_is_not_asyncapi(doc: dict[str, Any]) -> None:
    broken = copy.deepcopy(doc)
    del broken["info"]["version"]
    broken["operations"][f"send_{EVENT}"]["action"] = "publish"  # the AsyncAPI 2 word
    errors = asyncapi_errors(broken)
    assert any("version" in e for e in errors)
    assert any("publish" in e for e in errors)


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    assert dangling(doc) == []
    # An operation's messages are a subset of its channel's messages.
    for operation in doc["operations"].values():
        channel = pointer(doc, operation["channel"]["$ref"])
        for message in operation["messages"]:
            ref = message["$ref"]
            assert ref.startswith(operation["channel"]["$ref"] + "/messages/")
            assert pointer(doc, ref) in channel["messages"].values()


def test_info_names_the_platform_and_the_version(doc: dict[str, Any]) -> None:
    info = doc["info"]
    assert info["title"] == "retail"
    assert info["version"] == "abc123"
    assert info["description"] == "Integration platform of the retail group."
    assert info["x-owner"] == "platform"
    assert [t["name"] for t in info["tags"]] == ["analytics", "finance", "logistics", "sales"]


def test_one_channel_per_event_type_addressed_by_the_type(doc: dict[str, Any]) -> None:
    assert list(doc["channels"]) == [EVENT, "order.confirmed", "order.placed"]
    channel = doc["channels"][EVENT]
    assert channel["address"] == EVENT
    assert list(channel["messages"]) == [f"{EVENT}.v1", f"{EVENT}.v2"]
    assert channel["x-owner"] == "sales"
    assert channel["x-latest-version"] == 2
    assert channel["x-pii"] == ["address.street", "address.postalCode"]
    assert channel["x-ordering-key"] == "customerId"


def test_each_schema_version_is_its_own_message(doc: dict[str, Any]) -> None:
    messages = doc["components"]["messages"]
    assert sorted(messages) == [
        f"{EVENT}.v1",
        f"{EVENT}.v2",
        "order.confirmed.v1",
        "order.placed.v1",
    ]
    for version in (1, 2):
        message = messages[f"{EVENT}.v{version}"]
        assert message["name"] == EVENT
        assert message["x-schema-version"] == version
        assert message["contentType"] == "application/json"
        payload = pointer(doc, message["payload"]["$ref"])
        assert payload["schemaFormat"] == SCHEMA_FORMAT
        assert payload["schema"]["title"] == f"{EVENT} v{version}"
        assert "$id" not in payload["schema"]
        assert "deprecated" not in message
    v2 = pointer(doc, messages[f"{EVENT}.v2"]["payload"]["$ref"])["schema"]
    assert v2["properties"]["address"]["required"] == ["street", "city", "country"]


def test_messages_describe_the_cloudevents_headers(doc: dict[str, Any]) -> None:
    message = doc["components"]["messages"][f"{EVENT}.v1"]
    shared, own = message["headers"]["allOf"]
    headers = pointer(doc, shared["$ref"])
    assert headers["required"] == ["ce-specversion", "ce-id", "ce-source", "ce-type"]
    assert headers["properties"]["ce-specversion"]["const"] == "1.0"
    assert own["properties"]["ce-type"]["const"] == EVENT


def test_the_publisher_sends_and_each_subscription_receives(doc: dict[str, Any]) -> None:
    operations = doc["operations"]
    assert sorted(operations) == [
        "analytics-address-updates",
        "erp-address-sync",
        "logistics-address-updates",
        "order-saga-orders",
        f"send_{EVENT}",
        "send_order.confirmed",
        "send_order.placed",
    ]
    send = operations[f"send_{EVENT}"]
    assert (send["action"], send["x-system"], send["x-owner"]) == ("send", "crm", "sales")
    receivers = {k: v for k, v in operations.items() if v["action"] == "receive"}
    assert len(receivers) == 4
    logistics = receivers["logistics-address-updates"]
    assert logistics["x-target"] == {"system": "logistics", "path": "/hooks/address-updated"}
    assert logistics["x-ordered"] is True
    assert logistics["x-owner"] == "logistics"
    assert receivers["erp-address-sync"]["x-target"] == {"flow": "address-sync"}
    assert receivers["analytics-address-updates"]["x-filter"] == {"source": "crm"}
    assert len(logistics["messages"]) == 2


def test_the_gateway_is_the_http_server(doc: dict[str, Any]) -> None:
    assert doc["servers"] == {
        "gateway": {
            "host": "127.0.0.1:8080",
            "protocol": "http",
            "pathname": "/events",
            "title": "Interlink gateway",
            "description": doc["servers"]["gateway"]["description"],
        }
    }
    assert "/events/{type}" in doc["servers"]["gateway"]["description"]


def test_a_nats_backend_is_a_second_server(editable: Path) -> None:
    edit(
        editable / "platform.yaml", "backend: embedded", "backend: nats\n    url: nats://nats:4222"
    )
    edit(editable / "platform.yaml", "listen: 127.0.0.1:8080", "listen: 0.0.0.0:9000")
    doc = asyncapi_document(checked(editable))
    assert doc["servers"]["nats"]["host"] == "nats:4222"
    assert doc["servers"]["nats"]["protocol"] == "nats"
    assert doc["servers"]["gateway"]["host"] == "localhost:9000"
    assert asyncapi_errors(doc) == []


def test_deprecated_versions_are_marked_and_retired_ones_leave_the_channel(editable: Path) -> None:
    events = editable / EVENT_FILE
    edit(events, "v1.schema.json}", "v1.schema.json, lifecycle: deprecated}")
    doc = asyncapi_document(checked(editable))
    assert doc["components"]["messages"][f"{EVENT}.v1"]["deprecated"] is True
    assert "deprecated" not in doc["components"]["messages"][f"{EVENT}.v2"]

    edit(events, "lifecycle: deprecated}", "lifecycle: retired}")
    doc = asyncapi_document(checked(editable))
    assert list(doc["channels"][EVENT]["messages"]) == [f"{EVENT}.v2"]
    assert doc["components"]["messages"][f"{EVENT}.v1"]["x-lifecycle"] == "retired"
    assert len(doc["operations"][f"send_{EVENT}"]["messages"]) == 1
    assert asyncapi_errors(doc) == []
    assert dangling(doc) == []


def test_the_latest_active_version_is_named_on_the_channel(editable: Path) -> None:
    edit(editable / EVENT_FILE, "v2.schema.json}", "v2.schema.json, lifecycle: draft}")
    doc = asyncapi_document(checked(editable))
    assert doc["channels"][EVENT]["x-latest-version"] == 1


def test_without_a_platform_the_title_is_the_directory(editable: Path) -> None:
    (editable / "platform.yaml").unlink()
    doc = asyncapi_document(checked(editable))
    assert doc["info"]["title"] == "retail"
    assert "x-owner" not in doc["info"]
    target = editable.rename(editable.parent / "shop")
    assert asyncapi_document(checked(target))["info"]["title"] == "shop"


def test_a_document_of_one_event_is_titled_after_it(retail: Estate) -> None:
    doc = asyncapi_document(retail, version="2", events=[EVENT])
    assert doc["info"]["title"] == EVENT
    assert list(doc["channels"]) == [EVENT]
    assert asyncapi_errors(doc) == []
    assert asyncapi_document(retail, events=["other"])["channels"] == {}


def test_embedded_schemas_keep_their_own_references_working() -> None:
    schema: dict[str, Any] = {
        "$id": "https://example.com/s",
        "$defs": {"street": {"type": "string"}},
        "properties": {"street": {"$ref": "#/$defs/street"}, "self": {"$ref": "#"}},
        "enum": [{"$ref": "#/not/a/reference"}],
    }
    embedded = embed_schema(schema, "/components/schemas/a~1b/schema")
    assert "$id" not in embedded
    assert embedded["properties"]["street"]["$ref"] == (
        "#/components/schemas/a~1b/schema/$defs/street"
    )
    assert embedded["properties"]["self"]["$ref"] == "#/components/schemas/a~1b/schema"
    assert embedded["enum"] == [{"$ref": "#/not/a/reference"}]
    assert schema["properties"]["street"]["$ref"] == "#/$defs/street"  # the original is kept
