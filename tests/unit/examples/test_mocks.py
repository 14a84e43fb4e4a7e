"""The demo's stand-in business systems answer as the example's flows expect, and a repeated
Idempotency-Key changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from interlink.events.signing import generate_secret
from interlink.examples.mocks import (
    CARD_LIMIT,
    FAIL_PATH,
    RECOVER_PATH,
    MockSystem,
    mock_billing,
    mock_erp,
    mock_inventory,
    mock_logistics,
)
from interlink.testing.receivers import Receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
async def systems() -> AsyncIterator[dict[str, MockSystem]]:
    made = {
        "erp": mock_erp(),
        "billing": mock_billing(),
        "inventory": mock_inventory(),
        "logistics": mock_logistics(
            Receiver(secret=generate_secret(), webhooks=lambda p: p.startswith("/hooks/"))
        ),
    }
    for system in made.values():
        await system.start()
    try:
        yield made
    finally:
        for system in made.values():
            await system.stop()


async def received(system: MockSystem) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{system.url}/received")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


async def test_a_repeated_idempotency_key_gets_the_same_answer_and_reserves_once(
    systems: dict[str, MockSystem],
) -> None:
    inventory = systems["inventory"]
    order = {"order": "O-1", "items": [{"sku": "SKU-LAMP", "quantity": 1}]}
    headers = {"idempotency-key": "run-1:reserve-stock"}
    async with httpx.AsyncClient(base_url=inventory.url) as client:
        first = await client.post("/reservations", json=order, headers=headers)
        again = await client.post("/reservations", json=order, headers=headers)
        other = await client.post(
            "/reservations", json=order, headers={"idempotency-key": "run-2:x"}
        )
        reused = await client.delete("/reservations/R-0001", headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() == {"id": "R-0001", **order, "status": "held"}
    assert other.json()["id"] == "R-0002"
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    shown = await received(inventory)
    assert list(shown["reservations"]) == ["R-0001", "R-0002"]  # the repeat reserved nothing
    assert [r["repeat"] for r in shown["received"]] == [False, True, False, False]


async def test_billing_declines_over_the_limit_and_blocked_cards_with_402(
    systems: dict[str, MockSystem],
) -> None:
    async with httpx.AsyncClient(base_url=systems["billing"].url) as client:
        ok = await client.post(
            "/payments",
            json={"order": "O-1", "customer": "C000001", "amount": 20, "currency": "EUR"},
        )
        over = await client.post(
            "/payments", json={"order": "O-2", "customer": "C000001", "amount": CARD_LIMIT + 1}
        )
        blocked = await client.post(
            "/payments", json={"order": "O-3", "customer": "C000005", "amount": 1}
        )
        refund = await client.post(f"/payments/{ok.json()['id']}/refund")
        bad = await client.post(
            "/payments", content=b"{nope", headers={"content-type": "application/json"}
        )
    assert ok.status_code == 201
    for declined in (over, blocked):
        assert declined.status_code == 402
        assert declined.headers["content-type"] == "application/problem+json"
        assert declined.json()["title"] == "Payment declined"
    assert "card limit" in over.json()["detail"]
    assert "blocked" in blocked.json()["detail"]
    assert refund.json()["status"] == "refunded"
    assert bad.status_code == 400
    assert (await received(systems["billing"]))["payments"]["P-0001"]["status"] == "refunded"


async def test_the_erp_keeps_a_billing_address_and_reverts_it(
    systems: dict[str, MockSystem],
) -> None:
    async with httpx.AsyncClient(base_url=systems["erp"].url) as client:
        path = "/customers/C000001/billing-address"
        first = await client.put(path, json={"street": "1 A St", "city": "Berlin", "country": "DE"})
        second = await client.put(
            path, json={"street": "2 B St", "city": "Vienna", "country": "AT"}
        )
        reverted = await client.post(f"{path}/revert")
        missing = await client.post("/customers/C000009/billing-address/revert")
        incomplete = await client.put(path, json={"street": "3 C St"})
    assert first.status_code == second.status_code == reverted.status_code == 200
    assert second.json()["previous"]["city"] == "Berlin"
    assert reverted.json()["billingAddress"]["city"] == "Berlin"
    assert missing.status_code == 404
    assert incomplete.status_code == 422


async def test_logistics_books_shipments_unsigned_and_still_checks_its_webhooks(
    systems: dict[str, MockSystem],
) -> None:
    logistics = systems["logistics"]
    async with httpx.AsyncClient(base_url=logistics.url) as client:
        shipment = await client.post("/shipments", json={"order": "O-1", "items": []})
        unsigned_hook = await client.post("/hooks/address-updated", json={"id": "e1"})
        unknown = await client.post("/nowhere", json={})
        abroad = await client.post("/shipments", json={"order": "O-2", "shipTo": {"country": "US"}})
    assert shipment.status_code == 201
    assert shipment.json()["id"] == "S-0001"
    assert unsigned_hook.status_code == 401  # a webhook without a valid signature
    assert unknown.status_code == 204  # not the mock's: the receiver's default answer
    assert abroad.status_code == 422
    assert "no carrier delivers to US" in abroad.json()["detail"]
    shown = await received(logistics)
    assert [r["path"] for r in shown["received"]] == ["/shipments", "/shipments"]
    assert list(shown["shipments"]) == ["S-0001"]


async def test_a_system_told_to_fail_answers_503_until_told_to_recover(
    systems: dict[str, MockSystem],
) -> None:
    erp = systems["erp"]
    told: list[str] = []
    erp.on_request = told.append
    address = {"street": "1 Hauptstr", "zip": "10115", "city": "Berlin", "country": "DE"}
    async with httpx.AsyncClient(base_url=erp.url) as client:
        assert (await client.post(FAIL_PATH)).json() == {"system": "erp", "failing": True}
        down = await client.put("/customers/C1/billing-address", json=address)
        assert (await client.post(RECOVER_PATH)).json() == {"system": "erp", "failing": False}
        up = await client.put("/customers/C1/billing-address", json=address)
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    assert up.status_code == 200
    assert told[0] == "erp        ! now answers every request 503"
    assert [r["status"] for r in (await received(erp))["received"]] == [503, 200]
