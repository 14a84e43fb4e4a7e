"""What `interlink demo` runs beside the platform, so the event mesh has someone to talk to.

- a CRM simulator publishes ``customer.address-updated`` through the gateway every few seconds,
  with the crm-publisher Consumer's API key, as the real CRM would;
- mock logistics and analytics systems listen on their Systems' base URLs, verify every
  webhook's Standard Webhooks signature and print what they received;
- logistics answers its first delivery with 503 and ``Retry-After``, so a retry shows;
- analytics fails the first event until its short retry schedule is exhausted, so it lands in
  the dead-letter queue; the demo then replays it from the DLQ and analytics accepts it;
- the legacy and the new CRM answer the customers API behind the gateway (v1 on both, v2 on the
  new one), so the 90/10 split can be tried with curl;
- mock ERP, billing, inventory and logistics systems answer the calls of the example's flows
  (``interlink.examples.mocks``): the address changes Flow/address-sync brings to the ERP, the
  reservations, payments and shipments of Flow/order-saga, whose orders a web shop simulator
  places (``interlink.examples.shop``). Each shows what it received on ``GET /received``;
  ``POST /control/fail`` makes one answer 503 until ``POST /control/recover``;
- the new CRM keeps its customers in a database (System/crm-db) and answers its address
  list page by page (``interlink.examples.crm``), which the customer data products read;
  ``POST /control/bad-customer`` on its port stores a customer breaking the contract (until
  ``POST /control/repair-customers``), so a refresh of customer-360 fails and is told;
- ``POST /control/pause`` on the CRM's port stops the CRM simulator publishing (until
  ``POST /control/resume``), so the freshness monitor on its Event fires;
- a back-office script publishes one address change with an operator's admin token, a
  connection no Consumer declares (``interlink inventory --undeclared``);
- each alert the monitors open or resolve is printed as it is booked, in its plain words.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from interlink.errors import ConfigError
from interlink.estate.kinds import System
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate
from interlink.events.mesh import EventMesh
from interlink.examples.crm import ADDRESSES_PATH, BAD_PATH, REPAIR_PATH, CrmData
from interlink.examples.mocks import (
    MockSystem,
    mock_billing,
    mock_erp,
    mock_inventory,
    mock_logistics,
)
from interlink.examples.shop import ShopSimulator
from interlink.sdk import AsyncPublisher, PublishError
from interlink.store import AlertBook
from interlink.testing.processes import free_port
from interlink.testing.receivers import Received, Receiver, Reply

EVENT = "customer.address-updated"
STREETS = ("1 Harbour Rd", "22 Mill Lane", "7 Station St", "350 Fifth Ave", "12 Rue Verte")
# Flow/address-sync brings domestic addresses (DE, AT, CH) to the ERP and filters out the others.
CITIES = (
    ("Dublin", "IE"),
    ("Berlin", "DE"),
    ("Lyon", "FR"),
    ("Vienna", "AT"),
    ("Boston", "US"),
    ("Zurich", "CH"),
)
#: Where the signed webhooks of the logistics System's Subscriptions arrive.
HOOKS = "/hooks/"
#: ``POST`` on the CRM's port: stop the CRM simulator publishing, or start it again.
PAUSE_PATH, RESUME_PATH = "/control/pause", "/control/resume"
#: The customer the back-office script moves (with an operator's token: undeclared).
BACKOFFICE_CUSTOMER = "C000042"


#: The Systems whose stand-ins the demo runs, in the order of their ports (9101, 9102, …).
SYSTEMS = ("crm-legacy", "crm", "logistics", "analytics", "erp", "billing", "inventory")
#: Where they listen unless the demo is told otherwise.
FIRST_PORT = 9101


#: Systems whose connection names a local path, and the field: made absolute in the demo's
#: copy, so the CRM simulator and the platform find the same database and files.
LOCAL_PATHS = {"crm-db": "path", "sales-files": "root"}


def place_data(directory: Path) -> None:
    """Point the demo estate's local Systems (the CRM's database, the file drop) at absolute
    paths under ``directory``, by editing their connection lines in the demo's own copy."""
    estate, _ = load_estate(directory)
    for name, field in LOCAL_PATHS.items():
        item = estate.get("System", name)
        if item is None or not isinstance(item.obj, System):
            continue
        value = str((item.obj.spec.connection or {}).get(field, ""))
        if not value or Path(value).is_absolute():
            continue
        at = item.location(("spec", "connection", field))
        lines = at.file.read_text(encoding="utf-8").splitlines(keepends=True)
        absolute = str((directory / value).resolve())
        lines[at.line - 1] = lines[at.line - 1].replace(value, json.dumps(absolute), 1)
        at.file.write_text("".join(lines), encoding="utf-8")


def crm_database(estate: Estate) -> Path | None:
    """The CRM's database file, as System/crm-db names it (None: the estate has none)."""
    item = estate.get("System", "crm-db")
    if item is None or not isinstance(item.obj, System):
        return None
    path = (item.obj.spec.connection or {}).get("path")
    return Path(str(path)) if path else None


def place_companions(directory: Path, first_port: int) -> None:
    """Point the demo estate's stand-in Systems at ``first_port`` and the ports after it, or at
    free ports when it is 0, by editing their ``baseUrl`` lines in the demo's own copy."""
    place_data(directory)
    estate, _ = load_estate(directory)
    for offset, name in enumerate(SYSTEMS):
        port = first_port + offset if first_port else free_port()
        item = estate.get("System", name)
        if item is None or not isinstance(item.obj, System) or not item.obj.spec.base_url:
            raise ConfigError(
                f"the demo needs System/{name} with a baseUrl (or run it with --no-companions)"
            )
        if urlsplit(str(item.obj.spec.base_url)).port == port:
            continue
        at = item.location(("spec", "baseUrl"))
        lines = at.file.read_text(encoding="utf-8").splitlines(keepends=True)
        line = lines[at.line - 1]
        lines[at.line - 1] = re.sub(r"(https?://[^/\s:\"']+):\d+", rf"\g<1>:{port}", line, count=1)
        at.file.write_text("".join(lines), encoding="utf-8")


def base_url(estate: Estate, system: str) -> str:
    """Where the stand-in of ``system`` listens: its System's base URL."""
    item = estate.get("System", system)
    if item is None or not isinstance(item.obj, System) or not item.obj.spec.base_url:
        raise ConfigError(f"the demo needs System/{system} with a baseUrl")
    return str(item.obj.spec.base_url).rstrip("/")


def _port(estate: Estate, system: str) -> int:
    return urlsplit(base_url(estate, system)).port or 80


class DemoCompanions:
    def __init__(
        self,
        estate: Estate,
        mesh: EventMesh,
        gateway_url: str,
        publisher_key: str,
        shop_key: str,
        secrets: dict[str, str],
        echo: Callable[[str], None],
        *,
        operator_token: str | None = None,
        alerts: AlertBook | None = None,
        interval: float = 4.0,
        order_interval: float = 5.0,
    ) -> None:
        self._estate = estate
        self._mesh = mesh
        self._echo = echo
        self._interval = interval
        # Logistics takes signed webhooks and, beside them, the order saga's shipments.
        self.logistics = Receiver(
            secret=secrets["logistics-webhook-secret"], webhooks=lambda p: p.startswith(HOOKS)
        )
        self.analytics = Receiver(secret=secrets["analytics-webhook-secret"])
        self.legacy_crm = mock_crm("crm-legacy")
        database = crm_database(estate)
        self.crm_data = CrmData(database, echo) if database is not None else None
        self.crm = mock_crm("crm", self.crm_data)
        self.systems: dict[str, MockSystem] = {
            "erp": mock_erp(),
            "billing": mock_billing(),
            "inventory": mock_inventory(),
            "logistics": mock_logistics(self.logistics),
        }
        for system in self.systems.values():
            system.on_request = echo
        self._publisher = AsyncPublisher(gateway_url, source="crm", key=publisher_key, linger=0)
        self._backoffice = (
            AsyncPublisher(gateway_url, source="backoffice", token=operator_token, linger=0)
            if operator_token
            else None
        )
        self._alerts = alerts
        self.paused = False  # the CRM simulator, by POST /control/pause on the CRM's port
        self.crm.answer(
            self._pause, when=lambda r: r.method == "POST" and r.path in (PAUSE_PATH, RESUME_PATH)
        )
        self.shop = ShopSimulator(gateway_url, shop_key, echo, interval=order_interval)
        self._tasks: list[asyncio.Task[None]] = []
        self._seen = {"logistics": 0, "analytics": 0}
        self._first_event: str | None = None
        self._replayed = False

    async def start(self) -> None:
        if self.crm_data is not None:
            await asyncio.to_thread(self.crm_data.create)
        # The first delivery to logistics is turned away once with a Retry-After; analytics
        # refuses the first event for good until it is replayed from the dead-letter queue.
        self.logistics.script(
            Reply(503, {"retry-after": "2"}), when=lambda r: r.path.startswith(HOOKS)
        )
        self.analytics.script(
            Reply(500, body=b"analytics loader down"),
            times=None,
            when=lambda r: not self._replayed and r.event.get("id") == self._first_event,
        )
        await self.logistics.start(_port(self._estate, "logistics"))
        await self.analytics.start(_port(self._estate, "analytics"))
        await self.legacy_crm.start(_port(self._estate, "crm-legacy"))
        await self.crm.start(_port(self._estate, "crm"))
        for name in ("erp", "billing", "inventory"):
            await self.systems[name].start(_port(self._estate, name))
        self._tasks = [
            asyncio.create_task(self._simulate_crm()),
            asyncio.create_task(self.shop.run()),
            asyncio.create_task(self._report()),
            asyncio.create_task(self._replay_dead_letters()),
        ]
        if self._backoffice is not None:
            self._tasks.append(asyncio.create_task(self._publish_backoffice()))
        if self._alerts is not None:
            self._tasks.append(asyncio.create_task(self._tell_alerts(self._alerts)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._publisher.close()
        if self._backoffice is not None:
            await self._backoffice.close()
        await self.shop.close()
        for receiver in (self.logistics, self.analytics, self.legacy_crm, self.crm):
            await receiver.stop()
        for name in ("erp", "billing", "inventory"):
            await self.systems[name].stop()

    def _pause(self, request: Received) -> Reply:
        self.paused = request.path == PAUSE_PATH
        said = "paused: no address changes until POST " + RESUME_PATH if self.paused else "resumed"
        self._echo(f"crm        ! simulator {said}")
        body = {"simulator": "crm", "paused": self.paused}
        return Reply(200, {"content-type": "application/json"}, json.dumps(body).encode())

    async def _simulate_crm(self) -> None:
        rng = random.Random(7)
        while True:
            if self.paused:
                await asyncio.sleep(0.5)
                continue
            city, country = rng.choice(CITIES)
            customer = f"C{rng.randint(1, 5):06d}"
            address = {
                "street": rng.choice(STREETS),
                "city": city,
                "postalCode": f"{rng.randint(1000, 99999)}",
                "country": country,
            }
            # Each change is new: address-sync takes a customer's change at a time once.
            changed = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            data = {
                "customerId": customer,
                "address": address,
                "changedAt": changed,
                "changedBy": "crm-simulator",
            }
            event = self._publisher.event(EVENT, data)
            if self._first_event is None:
                self._first_event = str(event["id"])
            try:
                receipt = await self._publisher.send(event)
                self._echo(
                    f"crm        → published {EVENT} #{receipt.seq} for {data['customerId']}"
                )
                if self.crm_data is not None:
                    self.crm_data.moved(customer, address, changed)
            except PublishError as exc:
                self._echo(f"crm        → publish failed: {exc}")
            await asyncio.sleep(self._interval)

    async def _publish_backoffice(self) -> None:
        """One address change from a script holding an operator's admin token: accepted, and
        seen in the inventory as a publisher the estate does not declare."""
        assert self._backoffice is not None
        await asyncio.sleep(2.0)
        data = {
            "customerId": BACKOFFICE_CUSTOMER,
            "address": {
                "street": "9 Kai",
                "city": "Berlin",
                "postalCode": "10115",
                "country": "DE",
            },
            "changedAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "changedBy": "backoffice-script",
        }
        try:
            receipt = await self._backoffice.send(self._backoffice.event(EVENT, data))
            self._echo(
                f"backoffice → published {EVENT} #{receipt.seq} for {BACKOFFICE_CUSTOMER} "
                "with an operator's admin token (declared nowhere)"
            )
        except PublishError as exc:
            self._echo(f"backoffice → publish failed: {exc}")

    async def _tell_alerts(self, book: AlertBook) -> None:
        """Print each alert as it opens and resolves, as its owners would be told."""
        seen = {a.id: a.state for a in await asyncio.to_thread(book.recent, "all", 100)}
        while True:
            await asyncio.sleep(2.0)
            for alert in reversed(await asyncio.to_thread(book.recent, "all", 20)):
                if seen.get(alert.id) == alert.state:
                    continue
                seen[alert.id] = alert.state
                if alert.state == "firing":
                    self._echo(f"alert      ! {alert.monitor} firing: {alert.summary}")
                else:
                    self._echo(f"alert      ✓ {alert.monitor} resolved")

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(0.3)
            for name, receiver in (("logistics", self.logistics), ("analytics", self.analytics)):
                fresh = receiver.requests[self._seen[name] :]
                self._seen[name] += len(fresh)
                for received in fresh:
                    if received.webhook_id is not None:  # the others are the mock's to tell
                        self._echo(_line(name, received))

    async def _replay_dead_letters(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            page = await self._mesh.queue.list_dead("analytics-address-updates", 10)
            if not page.items or self._mesh.engine is None:
                continue
            ids = [d.id for d in page.items]
            self._echo(
                f"dlq        ✗ {', '.join(ids)} dead after {page.items[0].attempt} attempts "
                f"(last answer {page.items[0].last_status}); analytics is back, replaying"
            )
            self._replayed = True
            await self._mesh.engine.retry(ids)


def _customer(system: str, v2: bool) -> dict[str, object]:
    name = {"givenName": "Ada", "familyName": "Lovelace"} if v2 else {"name": "Ada Lovelace"}
    return {
        **name,
        "id": "C000001",
        "email": "ada@example.com",
        "createdAt": "2021-03-04T10:00:00Z",
        # The new CRM spells tiers its own way: the shadow comparison finds it at /tier.
        "tier": "Gold" if system == "crm" else "gold",
        "address": {"street": "1 Quay St", "city": "Galway", "postalCode": "H91", "country": "IE"},
        "servedBy": system,  # an extra field: shows which CRM answered
    }


def mock_crm(system: str, data: CrmData | None = None) -> Receiver:
    """A CRM answering the customers contract (v1 under /customers, v2 under /v2/customers);
    with ``data``, also its address list and the controls of its database
    (:mod:`interlink.examples.crm`)."""
    crm = Receiver(keep=False)
    json_type = {"content-type": "application/json"}
    if data is not None:
        crm.answer(
            data.addresses_page, when=lambda r: r.method == "GET" and r.path == ADDRESSES_PATH
        )
        crm.answer(
            data.control, when=lambda r: r.method == "POST" and r.path in (BAD_PATH, REPAIR_PATH)
        )

    def reply(v2: bool, many: bool, status: int = 200) -> Reply:
        one = _customer(system, v2)
        body = {"items": [one], "next": None} if many else one
        return Reply(status, json_type, json.dumps(body).encode())

    def route(prefix: str, v2: bool) -> None:
        crm.script(
            Reply(204),
            times=None,
            when=lambda r: r.path.startswith(prefix) and r.path.endswith("/address"),
        )
        crm.script(
            reply(v2, False, 201), times=None, when=lambda r: r.path == prefix and bool(r.body)
        )
        crm.script(reply(v2, True), times=None, when=lambda r: r.path == prefix)
        crm.script(reply(v2, False), times=None, when=lambda r: r.path.startswith(prefix + "/"))

    route("/v2/customers", v2=True)
    route("/customers", v2=False)
    return crm


def _line(name: str, received: Received) -> str:
    try:
        event = json.loads(received.body)
        what = f"{event.get('type')} {event.get('data', {}).get('customerId')}"
    except (ValueError, AttributeError):
        what = "?"
    signature = {True: "signature ok", False: "BAD signature", None: "unsigned"}[received.verified]
    answer = f"answered {received.status}" + (" (duplicate)" if received.duplicate else "")
    return f"{name:<10} ← {what} ({signature}, webhook-id {received.webhook_id}): {answer}"
