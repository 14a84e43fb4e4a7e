"""The web shop simulator of `interlink demo`: it places orders, which the order saga carries out.

Two orders in three are posted to the process API (``POST /api/orders``, Route/orders), which
answers with the saga's result; every third is published as an ``order.placed`` event, which
Subscription/order-saga-orders hands to the same flow. Some orders are over billing's card
limit, or for the customer whose card is blocked, so some runs end ``compensated``.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from interlink.examples.mocks import CARD_LIMIT
from interlink.sdk import AsyncPublisher, PublishError

ORDER_EVENT = "order.placed"
ORDER_PATH = "/api/orders"
SKUS = ("SKU-KETTLE", "SKU-LAMP", "SKU-CHAIR", "SKU-DESK", "SKU-RUG")
#: A city, its country and a street to ship to.
SHIP_TO = (("Berlin", "DE"), ("Vienna", "AT"), ("Dublin", "IE"), ("Lyon", "FR"))
_RUN_STATUS = re.compile(r" run \S+ (\w+):")


def make_order(rng: random.Random, order_id: str) -> dict[str, Any]:
    """An order of one to three lines; one in four is over the card limit."""
    items = [
        {"sku": sku, "quantity": rng.randint(1, 3)} for sku in rng.sample(SKUS, rng.randint(1, 3))
    ]
    big = rng.random() < 1 / 4
    amount = rng.uniform(CARD_LIMIT + 1, CARD_LIMIT * 3) if big else rng.uniform(15, CARD_LIMIT)
    city, country = rng.choice(SHIP_TO)
    return {
        "orderId": order_id,
        "customerId": f"C{rng.randint(1, 5):06d}",
        "items": items,
        "amount": round(amount, 2),
        "currency": "EUR",
        "shipTo": {"street": f"{rng.randint(1, 99)} Market St", "city": city, "country": country},
    }


def describe(order: dict[str, Any]) -> str:
    return f"{order['orderId']} {order['amount']:.2f} {order['currency']} {order['customerId']}"


class ShopSimulator:
    def __init__(
        self,
        gateway_url: str,
        key: str,
        echo: Callable[[str], None],
        *,
        interval: float = 5.0,
        seed: int = 6,  # the first order goes through, the second is declined
    ) -> None:
        self._echo = echo
        self._interval = interval
        self._rng = random.Random(seed)
        # Order ids differ from one demo run to the next: the saga takes each order id once.
        self._prefix = f"O-{int(time.time()) % 100_000:05d}"
        self._client = httpx.AsyncClient(
            base_url=gateway_url.rstrip("/"), headers={"x-api-key": key}, timeout=10.0
        )
        self._publisher = AsyncPublisher(gateway_url, source="webshop", key=key, linger=0)

    async def close(self) -> None:
        await self._client.aclose()
        await self._publisher.close()

    async def run(self, first_delay: float = 1.5) -> None:
        await asyncio.sleep(first_delay)
        n = 0
        while True:
            n += 1
            order = make_order(self._rng, f"{self._prefix}-{n}")
            if n % 3:
                await self._post(order)
            else:
                await self._publish(order)
            await asyncio.sleep(self._interval)

    async def _post(self, order: dict[str, Any]) -> None:
        try:
            answer = await self._client.post(ORDER_PATH, json=order)
        except httpx.HTTPError as exc:
            self._echo(f"shop       → POST {ORDER_PATH} failed: {exc}")
            return
        run = answer.headers.get("interlink-flow-run", "-")
        if answer.status_code == 200:
            outcome = "completed"
        else:
            try:
                detail = str(answer.json().get("detail", ""))
            except (ValueError, AttributeError):
                detail = ""
            found = _RUN_STATUS.search(detail)
            outcome = found.group(1) if found else answer.reason_phrase
        self._echo(
            f"shop       → POST {ORDER_PATH} {describe(order)}: {answer.status_code} {outcome}, "
            f"run {run}"
        )

    async def _publish(self, order: dict[str, Any]) -> None:
        try:
            receipt = await self._publisher.send(self._publisher.event(ORDER_EVENT, order))
        except PublishError as exc:
            self._echo(f"shop       → publish failed: {exc}")
            return
        self._echo(f"shop       → published {ORDER_EVENT} #{receipt.seq} {describe(order)}")
