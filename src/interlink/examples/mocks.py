"""Stand-ins for the retail group's business systems, which the example's flows call.

Each is a small HTTP server (a :class:`~interlink.testing.receivers.Receiver` answering through
a :class:`MockSystem`) that keeps what it is told and answers from it:

- ERP: ``PUT /customers/{id}/billing-address`` and ``POST …/billing-address/revert``;
- billing: ``POST /address-changes``, ``POST /payments`` (it refuses a charge over
  :data:`CARD_LIMIT` or for a customer in :data:`BLOCKED` with 402 problem+json) and
  ``POST /payments/{id}/refund``;
- inventory: ``POST /reservations`` and ``DELETE /reservations/{id}`` (the release);
- logistics: ``POST /shipments`` (to the countries in :data:`SHIPS_TO`; others are 422), beside
  the signed webhooks it receives.

A request that carries an ``Idempotency-Key`` already answered gets the same answer again and
changes nothing (the same key on another request is 422), as a system that a retrying flow calls
must do. ``GET /received`` answers with every request received and what the system keeps, as
JSON; each request also makes one line for the demo's output.

``POST /control/fail`` makes a system answer every request 503 until ``POST /control/recover``,
so the demo can show a monitor's SLO burning and an alert telling the owners.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interlink.testing.receivers import Received, Receiver, Reply

#: The largest charge billing accepts, in the order's currency.
CARD_LIMIT = 500.0
#: Customers whose card billing declines whatever the amount.
BLOCKED = frozenset({"C000005"})
#: The countries logistics has carriers for.
SHIPS_TO = frozenset({"DE", "AT", "CH", "FR", "IE", "NL", "BE", "IT", "ES", "PT"})
RECEIVED_PATH = "/received"
#: ``POST`` there: answer 503 from now on; the other: answer again.
FAIL_PATH, RECOVER_PATH = "/control/fail", "/control/recover"

_JSON = {"content-type": "application/json"}
_PROBLEM = {"content-type": "application/problem+json"}


@dataclass(frozen=True)
class Answer:
    """What a mock answers: a status, a JSON body, and a few words for its log line."""

    status: int
    body: Any = None
    note: str = ""


def problem(status: int, title: str, detail: str) -> Answer:
    """An RFC 9457 problem answer."""
    return Answer(
        status, {"type": "about:blank", "title": title, "status": status, "detail": detail}, detail
    )


Handler = Callable[[re.Match[str], Any], Answer]


class MockSystem:
    """One stand-in system: its endpoints, what it received, and its answers by idempotency
    key."""

    def __init__(self, name: str, receiver: Receiver | None = None) -> None:
        self.name = name
        self.receiver = receiver or Receiver()
        self.received: list[dict[str, Any]] = []
        self.state: dict[str, dict[str, Any]] = {}  # what it keeps, by collection
        self.on_request: Callable[[str], None] | None = None  # told one line per request
        self.failing = False  # set by POST /control/fail: every request answered 503
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._answers: dict[str, tuple[str, Answer]] = {}  # by key: the request, its answer
        self.receiver.answer(self._reply, when=self._serves)

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern + "$"), handler))

    def collection(self, name: str) -> dict[str, Any]:
        return self.state.setdefault(name, {})

    def next_id(self, prefix: str, collection: str) -> str:
        return f"{prefix}-{len(self.collection(collection)) + 1:04d}"

    async def start(self, port: int = 0) -> None:
        await self.receiver.start(port)

    async def stop(self) -> None:
        await self.receiver.stop()

    @property
    def url(self) -> str:
        return self.receiver.url

    # --- answering -------------------------------------------------------------------------

    def _serves(self, request: Received) -> bool:
        if request.method == "GET" and request.path == RECEIVED_PATH:
            return True
        if request.method == "POST" and request.path in (FAIL_PATH, RECOVER_PATH):
            return True
        return any(m == request.method and p.match(request.path) for m, p, _ in self._routes)

    def _reply(self, request: Received) -> Reply:
        if request.path == RECEIVED_PATH:
            shown = {"system": self.name, "received": self.received, **self.state}
            return Reply(200, _JSON, json.dumps(shown, indent=2).encode())
        if request.path in (FAIL_PATH, RECOVER_PATH):
            return self._control(request.path == FAIL_PATH)
        what = f"{request.method} {request.path}"
        key = request.headers.get("idempotency-key")
        repeat = key is not None and key in self._answers
        if key is not None and repeat:
            first, answer = self._answers[key]
            if first != what:
                detail = f"Idempotency-Key {key} was used for {first}"
                answer, repeat = problem(422, "Idempotency-Key reused", detail), False
        elif self.failing:
            answer = problem(503, "Unavailable", f"{self.name} is down (POST {RECOVER_PATH})")
        else:
            answer = self._handle(request)
            if key is not None and answer.status < 500:  # a 5xx may be tried again
                self._answers[key] = (what, answer)
        try:
            body = json.loads(request.body) if request.body.strip() else None
        except ValueError:
            body = request.body.decode("utf-8", "replace")
        self.received.append(
            {
                "method": request.method,
                "path": request.path,
                "idempotencyKey": key,
                "body": body,
                "status": answer.status,
                "answer": answer.body,
                "repeat": repeat,
                "at": request.at.isoformat(timespec="milliseconds"),
            }
        )
        if self.on_request is not None:
            again = " (same Idempotency-Key: same answer, nothing done twice)" if repeat else ""
            note = f" {answer.note}" if answer.note else ""
            self.on_request(f"{self.name:<10} ← {what}: {answer.status}{note}{again}")
        headers = _PROBLEM if answer.status >= 400 else _JSON
        payload = b"" if answer.body is None else json.dumps(answer.body).encode()
        return Reply(answer.status, headers if payload else {}, payload)

    def _control(self, fail: bool) -> Reply:
        self.failing = fail
        said = "answers every request 503" if fail else "answers again"
        if self.on_request is not None:
            self.on_request(f"{self.name:<10} ! now {said}")
        body = {"system": self.name, "failing": fail}
        return Reply(200, _JSON, json.dumps(body).encode())

    def _handle(self, request: Received) -> Answer:
        try:
            body = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            return problem(400, "Bad request", "the body is not JSON")
        for method, pattern, handler in self._routes:
            found = pattern.match(request.path)
            if method == request.method and found is not None:
                return handler(found, body)
        return problem(404, "Not found", f"no {request.method} {request.path}")


def _field(body: Any, name: str) -> Any:
    return body.get(name) if isinstance(body, dict) else None


def mock_erp() -> MockSystem:
    """The ERP keeps each customer's billing address, and the one before it for a revert."""
    erp = MockSystem("erp")
    customers = erp.collection("customers")

    def update(found: re.Match[str], body: Any) -> Answer:
        customer = found.group(1)
        address = (
            {k: body.get(k) for k in ("street", "zip", "city", "country")}
            if isinstance(body, dict)
            else {}
        )
        if not address.get("city") or not address.get("country"):
            return problem(422, "Invalid address", "a billing address needs a city and a country")
        record = customers.setdefault(
            customer, {"billingAddress": None, "previous": None, "version": 0}
        )
        record.update(
            previous=record["billingAddress"], billingAddress=address, version=record["version"] + 1
        )
        return Answer(
            200, {"customer": customer, **record}, f"{address['city']}, {address['country']}"
        )

    def revert(found: re.Match[str], body: Any) -> Answer:
        customer = found.group(1)
        record = customers.get(customer)
        if record is None:
            return problem(404, "Not found", f"no billing address of {customer} to revert")
        record.update(
            billingAddress=record["previous"], previous=None, version=record["version"] + 1
        )
        return Answer(200, {"customer": customer, **record}, "reverted")

    erp.route("PUT", r"/customers/([^/]+)/billing-address", update)
    erp.route("POST", r"/customers/([^/]+)/billing-address/revert", revert)
    return erp


def mock_billing(limit: float = CARD_LIMIT, blocked: frozenset[str] = BLOCKED) -> MockSystem:
    """Billing charges orders (refusing some, deterministically), refunds them, and takes note
    of address changes."""
    billing = MockSystem("billing")
    payments = billing.collection("payments")
    changes = billing.collection("addressChanges")

    def address_change(found: re.Match[str], body: Any) -> Answer:
        number = billing.next_id("A", "addressChanges")
        changes[number] = body
        return Answer(202, {"id": number}, str(_field(body, "customer") or ""))

    def charge(found: re.Match[str], body: Any) -> Answer:
        order, customer, amount = (_field(body, k) for k in ("order", "customer", "amount"))
        if (
            not isinstance(order, str)
            or isinstance(amount, bool)
            or not isinstance(amount, int | float)
        ):
            return problem(400, "Bad request", "a payment needs an order and an amount")
        currency = _field(body, "currency") or "EUR"
        what = f"{order} {amount:.2f} {currency}"
        if customer in blocked:
            return problem(402, "Payment declined", f"{what}: the card of {customer} is blocked")
        if amount > limit:
            return problem(402, "Payment declined", f"{what}: over the card limit of {limit:.2f}")
        number = billing.next_id("P", "payments")
        payments[number] = {
            "order": order,
            "customer": customer,
            "amount": amount,
            "currency": currency,
            "status": "charged",
        }
        return Answer(201, {"id": number, **payments[number]}, f"{what} charged {number}")

    def refund(found: re.Match[str], body: Any) -> Answer:
        payment = payments.get(found.group(1))
        if payment is None:
            return problem(404, "Not found", f"no payment {found.group(1)}")
        payment["status"] = "refunded"
        return Answer(200, {"id": found.group(1), **payment}, f"{payment['order']} refunded")

    billing.route("POST", r"/address-changes", address_change)
    billing.route("POST", r"/payments", charge)
    billing.route("POST", r"/payments/([^/]+)/refund", refund)
    return billing


def mock_inventory() -> MockSystem:
    """Inventory holds stock for orders until they ship, or releases it."""
    inventory = MockSystem("inventory")
    reservations = inventory.collection("reservations")

    def reserve(found: re.Match[str], body: Any) -> Answer:
        order, items = _field(body, "order"), _field(body, "items")
        if not isinstance(order, str) or not isinstance(items, list) or not items:
            return problem(400, "Bad request", "a reservation needs an order and its items")
        number = inventory.next_id("R", "reservations")
        reservations[number] = {"order": order, "items": items, "status": "held"}
        return Answer(201, {"id": number, **reservations[number]}, f"{order} held {number}")

    def release(found: re.Match[str], body: Any) -> Answer:
        reservation = reservations.get(found.group(1))
        if reservation is None:
            return problem(404, "Not found", f"no reservation {found.group(1)}")
        reservation["status"] = "released"
        return Answer(
            200, {"id": found.group(1), **reservation}, f"{reservation['order']} released"
        )

    inventory.route("POST", r"/reservations", reserve)
    inventory.route("DELETE", r"/reservations/([^/]+)", release)
    return inventory


def mock_logistics(receiver: Receiver) -> MockSystem:
    """Logistics books shipments (on the receiver that also takes its signed webhooks)."""
    logistics = MockSystem("logistics", receiver)
    shipments = logistics.collection("shipments")

    def ship(found: re.Match[str], body: Any) -> Answer:
        order = _field(body, "order")
        if not isinstance(order, str):
            return problem(400, "Bad request", "a shipment needs an order")
        to = _field(body, "shipTo")
        country = _field(to, "country")
        if country is not None and country not in SHIPS_TO:
            return problem(422, "Not shipped", f"{order}: no carrier delivers to {country}")
        number = logistics.next_id("S", "shipments")
        shipments[number] = {"order": order, "to": to, "status": "booked"}
        return Answer(201, {"id": number, **shipments[number]}, f"{order} booked {number}")

    logistics.route("POST", r"/shipments", ship)
    return logistics
