"""Event ingestion: content modes, validation, credentials and deduplication, on the real bus."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from interlink.estate.check import check_estate
from interlink.events.backends.embedded import EmbeddedBus
from interlink.events.ingress import EventIngress, Reply
from interlink.events.publish_auth import PublishAuth
from interlink.events.topology import topology_of
from interlink.events.validation import EventRegistry
from interlink.observe.signals import recorded
from interlink.store import Store, open_store
from interlink.store.keyring import KeyRing

TYPE = "customer.address-updated"
DATA = {
    "customerId": "C000042",
    "address": {
        "street": "1 Main St",
        "city": "Springfield",
        "postalCode": "12345",
        "country": "US",
    },
    "changedAt": "2026-11-22T10:00:00Z",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Setup:
    ingress: EventIngress
    bus: EmbeddedBus
    store: Store
    keyring: KeyRing
    publisher_key: str
    partner_key: str

    async def post(self, path: str, headers: dict[str, str], body: Any) -> Reply:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.ingress.handle("POST", path, headers, raw, "req-1")


def structured(**overrides: Any) -> dict[str, Any]:
    event = {"specversion": "1.0", "id": "e-1", "source": "crm", "type": TYPE, "data": DATA}
    event.update(overrides)
    return event


def problem(reply: Reply) -> dict[str, Any]:
    assert dict(reply.headers)["content-type"] == "application/problem+json"
    document: dict[str, Any] = json.loads(reply.body)
    assert document["status"] == reply.status
    return document


@pytest.fixture
async def setup(retail_dir: Path, tmp_path: Path) -> AsyncIterator[Setup]:
    estate = check_estate(retail_dir).estate
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    publisher_key, _ = store.consumer_keys.create("crm-publisher", "test")
    partner_key, _ = store.consumer_keys.create("acme-logistics", "test")
    keyring = KeyRing(store)
    keyring.refresh()
    bus = EmbeddedBus(tmp_path / "events.db")
    await bus.open()
    topology = topology_of(estate)
    await bus.ensure(topology.streams, topology.consumers)
    registry = EventRegistry.from_estate(estate)
    auth = PublishAuth(keyring, store, lambda: estate)
    yield Setup(
        EventIngress(bus, lambda: registry, auth), bus, store, keyring, publisher_key, partner_key
    )
    await bus.close()
    store.close()


def key(setup: Setup) -> dict[str, str]:
    return {"x-api-key": setup.publisher_key}


@pytest.mark.anyio
async def test_binary_mode_is_appended_with_its_ordering_key(setup: Setup) -> None:
    headers = {
        **key(setup),
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "b-1",
        "ce-source": "crm",
        "ce-type": TYPE,
    }
    reply = await setup.post(f"/events/{TYPE}", headers, DATA)
    assert reply.status == 202, reply.body
    document = json.loads(reply.body)
    assert document["seq"] == 1
    assert document["duplicate"] is False
    (message,) = await setup.bus.read(TYPE, 1, 10)
    assert message.id == "b-1"
    assert message.key == "C000042"
    stored = json.loads(message.body)
    assert stored["data"] == DATA
    assert stored["datacontenttype"] == "application/json"


@pytest.mark.anyio
async def test_structured_and_batch_modes_and_idempotent_publish(setup: Setup) -> None:
    published = recorded("Event", TYPE)
    structured_headers = {**key(setup), "content-type": "application/cloudevents+json"}
    first = await setup.post(f"/events/{TYPE}", structured_headers, structured())
    assert first.status == 202
    batch_headers = {**key(setup), "content-type": "application/cloudevents-batch+json"}
    events = [structured(id="e-1"), structured(id="e-2"), structured(id="e-3")]
    reply = await setup.post("/events", batch_headers, events)
    assert reply.status == 202, reply.body
    document = json.loads(reply.body)
    assert document["accepted"] == 2
    assert document["duplicates"] == 1
    assert [(e["id"], e["seq"], e["duplicate"]) for e in document["events"]] == [
        ("e-1", 1, True),
        ("e-2", 2, False),
        ("e-3", 3, False),
    ]
    assert (await setup.bus.info(TYPE)).count == 3
    assert recorded("Event", TYPE) - published == 3  # for the monitors: not the duplicate


@pytest.mark.anyio
async def test_invalid_data_is_422_with_pointers_and_nothing_is_appended(setup: Setup) -> None:
    headers = {**key(setup), "content-type": "application/cloudevents-batch+json"}
    bad = structured(id="e-2", data={**DATA, "customerId": "nope"})
    reply = await setup.post("/events", headers, [structured(), bad])
    assert reply.status == 422
    document = problem(reply)
    assert document["instance"] == "req-1"
    pointers = [v["pointer"] for v in document["violations"]]
    assert pointers == ["/1/data/customerId"]
    assert (await setup.bus.info(TYPE)).count == 0


@pytest.mark.anyio
async def test_malformed_unknown_and_mismatched_events(setup: Setup) -> None:
    headers = {**key(setup), "content-type": "application/cloudevents+json"}
    malformed = await setup.post(f"/events/{TYPE}", headers, {"specversion": "0.3"})
    assert malformed.status == 400
    assert {v["pointer"] for v in problem(malformed)["violations"]} >= {"/specversion", "/id"}
    unknown = await setup.post(
        "/events/customer.adress-updated", headers, structured(type="customer.adress-updated")
    )
    assert unknown.status == 404
    assert "did you mean 'customer.address-updated'" in problem(unknown)["detail"]
    mismatch = await setup.post("/events/other.type", headers, structured())
    assert mismatch.status == 400
    assert problem(mismatch)["violations"][0]["pointer"] == "/type"
    not_json = await setup.post(f"/events/{TYPE}", headers, b"{not json")
    assert not_json.status == 400


@pytest.mark.anyio
async def test_credentials(setup: Setup) -> None:
    body = structured()
    media = {"content-type": "application/cloudevents+json"}
    missing = await setup.post(f"/events/{TYPE}", media, body)
    assert missing.status == 401
    assert "www-authenticate" in dict(missing.headers)
    wrong = await setup.post(
        f"/events/{TYPE}", {**media, "x-api-key": setup.publisher_key[:-2] + "xx"}, body
    )
    assert wrong.status == 401
    partner = await setup.post(f"/events/{TYPE}", {**media, "x-api-key": setup.partner_key}, body)
    assert partner.status == 403
    assert f"events:publish:{TYPE}" in problem(partner)["detail"]
    viewer, _ = setup.store.tokens.create("viewer", "v")
    as_viewer = await setup.post(
        f"/events/{TYPE}", {**media, "authorization": f"Bearer {viewer}"}, body
    )
    assert as_viewer.status == 403
    operator, _ = setup.store.tokens.create("operator", "o")
    as_operator = await setup.post(
        f"/events/{TYPE}", {**media, "authorization": f"Bearer {operator}"}, body
    )
    assert as_operator.status == 202
    # A Team's operator publishes only the events its Team owns (this one is sales').
    finance, _ = setup.store.tokens.create("operator", "finance-ops", team="finance")
    as_finance = await setup.post(
        f"/events/{TYPE}", {**media, "authorization": f"Bearer {finance}"}, body
    )
    assert as_finance.status == 403
    assert problem(as_finance)["detail"] == (f"admin:finance-ops lacks scope events:publish:{TYPE}")
    sales, _ = setup.store.tokens.create("operator", "sales-ops", team="sales")
    as_sales = await setup.post(
        f"/events/{TYPE}", {**media, "authorization": f"Bearer {sales}"}, structured(id="e-8")
    )
    assert as_sales.status == 202
    bearer_key = await setup.post(
        f"/events/{TYPE}",
        {**media, "authorization": f"Bearer {setup.publisher_key}"},
        structured(id="e-9"),
    )
    assert bearer_key.status == 202
    assert (await setup.bus.info(TYPE)).count == 3


@pytest.mark.anyio
async def test_oversize_and_wrong_method(setup: Setup) -> None:
    headers = {**key(setup), "content-type": "application/cloudevents+json"}
    huge = structured(data={**DATA, "changedBy": "x" * 2_000_000})
    too_large = await setup.post(f"/events/{TYPE}", headers, huge)
    assert too_large.status == 413
    problem(too_large)
    get = await setup.ingress.handle("GET", "/events", {}, b"", "req-2")
    assert get.status == 405
    assert dict(get.headers)["allow"] == "POST"
