"""The event mesh assembled as `interlink serve` runs it: ingress, bus, queue and delivery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from interlink.estate.check import check_estate
from interlink.estate.references import SecretSource
from interlink.events.delivery.webhook import webhook_id
from interlink.events.mesh import EventMesh
from interlink.events.signing import generate_secret
from interlink.store import Store, open_store
from interlink.testing.receivers import Receiver

TYPE = "customer.address-updated"
DATA = {
    "customerId": "C000042",
    "address": {"street": "1 Main St", "city": "Springfield", "postalCode": "1", "country": "US"},
    "changedAt": "2026-11-22T10:00:00Z",
}

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def wait_for(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


@dataclass
class Receivers:
    logistics: Receiver
    analytics: Receiver
    secrets_dir: Path


@pytest.fixture
async def receivers(retail_dir: Path, tmp_path: Path) -> AsyncIterator[Receivers]:
    secrets = {
        "logistics-webhook-secret": generate_secret(),
        "analytics-webhook-secret": generate_secret(),
    }
    directory = tmp_path / "secrets"
    directory.mkdir()
    for name, value in secrets.items():
        (directory / name).write_text(value)
    logistics = await Receiver(secret=secrets["logistics-webhook-secret"]).start()
    analytics = await Receiver(secret=secrets["analytics-webhook-secret"]).start()
    systems = retail_dir / "systems" / "operations.yaml"
    text = systems.read_text()
    text = text.replace("http://127.0.0.1:9103", logistics.url).replace(
        "http://127.0.0.1:9104", analytics.url
    )
    systems.write_text(text)
    yield Receivers(logistics, analytics, directory)
    await logistics.stop()
    await analytics.stop()


async def test_a_published_event_reaches_every_subscriber_signed(
    retail_dir: Path, tmp_path: Path, receivers: Receivers
) -> None:
    logistics, analytics = receivers.logistics, receivers.analytics
    estate = check_estate(retail_dir).estate
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store: Store = open_store(url)
    store.migrate()
    key, _ = store.consumer_keys.create("crm-publisher", "test")
    secrets = SecretSource(directory=receivers.secrets_dir)
    mesh = EventMesh(estate, store, url, secrets=secrets)
    await mesh.start()
    try:
        event = {"specversion": "1.0", "id": "e-1", "source": "crm", "type": TYPE, "data": DATA}
        reply = await mesh.ingress.handle(
            "POST",
            f"/events/{TYPE}",
            {"x-api-key": key, "content-type": "application/cloudevents+json"},
            json.dumps(event).encode(),
        )
        assert reply.status == 202, reply.body
        await wait_for(lambda: logistics.delivered and analytics.delivered)
        for receiver in (logistics, analytics):
            (got,) = receiver.delivered
            assert got.verified is True
            assert got.webhook_id == webhook_id("crm", "e-1")
            assert got.event["data"] == DATA
            assert got.headers["content-type"] == "application/cloudevents+json"
        assert logistics.delivered[0].path == "/hooks/address-updated"
        assert analytics.delivered[0].path == "/ingest/customer-events"
        assert mesh.engine is not None
        status = {s.name: s.state for s in mesh.engine.status()}
        assert status == {
            "analytics-address-updates": "running",
            "erp-address-sync": "failed",  # no flows run in this process
            "logistics-address-updates": "running",
            "order-saga-orders": "failed",
        }
    finally:
        await mesh.close()
        store.close()


async def test_one_id_from_two_sources_is_two_events_to_a_deduplicating_receiver(
    retail_dir: Path, tmp_path: Path, receivers: Receivers
) -> None:
    estate = check_estate(retail_dir).estate
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store: Store = open_store(url)
    store.migrate()
    key, _ = store.consumer_keys.create("crm-publisher", "test")
    mesh = EventMesh(estate, store, url, secrets=SecretSource(directory=receivers.secrets_dir))
    await mesh.start()
    try:
        for source in ("crm", "crm-eu"):
            event = {
                "specversion": "1.0",
                "id": "e-1",
                "source": source,
                "type": TYPE,
                "data": DATA,
            }
            reply = await mesh.ingress.handle(
                "POST",
                f"/events/{TYPE}",
                {"x-api-key": key, "content-type": "application/cloudevents+json"},
                json.dumps(event).encode(),
            )
            assert reply.status == 202, reply.body
        logistics = receivers.logistics  # analytics takes only source crm
        await wait_for(lambda: len(logistics.requests) == 2)
        assert [r.event["source"] for r in logistics.requests] == ["crm", "crm-eu"]
        assert [r.duplicate for r in logistics.requests] == [False, False]
        assert len(logistics.delivered) == 2
    finally:
        await mesh.close()
        store.close()
