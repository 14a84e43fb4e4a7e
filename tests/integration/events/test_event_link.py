"""A gateway worker's link to the event ingress: the main process's Unix socket and the gateway
server forwarding to it, on one event loop, with the real embedded bus."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.events.backends.embedded import EmbeddedBus
from interlink.events.ingress import EventIngress, Reply
from interlink.events.publish_auth import PublishAuth
from interlink.events.topology import topology_of
from interlink.events.validation import EventRegistry
from interlink.gateway import GatewayServer, Limits, compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.gateway.sockets import bind
from interlink.gateway.telemetry.access_log import log as access_log
from interlink.gateway.telemetry.observer import GatewayObserver
from interlink.gateway.workers.event_link import EventLink
from interlink.gateway.workers.ingress_socket import IngressSocket
from interlink.store import open_store
from interlink.store.keyring import KeyRing

TYPE = "customer.address-updated"
DATA = {
    "customerId": "C000042",
    "address": {"street": "1 Main St", "city": "Cork", "postalCode": "T12", "country": "IE"},
    "changedAt": "2026-11-22T10:00:00Z",
}
OPEN_ROUTE = """\
apiVersion: interlink/v1
kind: Route
metadata: {name: address-changes-open, owner: sales}
spec:
  match: {path: /open/address-changes, methods: [POST]}
  publish: {event: customer.address-updated}
"""


class Seen(logging.Handler):
    """The client each request was taken from, as the ingress server's access log tells it (a
    real observer: the compiled request path takes no stand-in)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.clients: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.clients.append(json.loads(record.getMessage())["client"])


@dataclass
class Linked:
    ingress: EventIngress
    bus: EmbeddedBus
    socket: IngressSocket
    link: EventLink
    gateway: GatewayServer
    url: str
    key: str
    seen: Seen = field(default_factory=Seen)

    def headers(self, event_id: str, **extra: str) -> dict[str, str]:
        return {
            "x-api-key": self.key,
            "content-type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": event_id,
            "ce-source": "crm",
            "ce-type": TYPE,
            **extra,
        }


@pytest.fixture
async def linked(retail_dir: Path, tmp_path: Path) -> AsyncIterator[Linked]:
    (retail_dir / "gateway" / "open-route.yaml").write_text(OPEN_ROUTE)
    estate = check_estate(retail_dir).estate
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    key, _ = store.consumer_keys.create("crm-publisher", "test")
    keyring = KeyRing(store)
    keyring.refresh()
    bus = EmbeddedBus(tmp_path / "events.db")
    await bus.open()
    topology = topology_of(estate)
    await bus.ensure(topology.streams, topology.consumers)
    registry = EventRegistry.from_estate(estate)
    ingress = EventIngress(bus, lambda: registry, PublishAuth(keyring, store, lambda: estate))
    # The main process's side: the ingress on its socket.
    socket = IngressSocket(ingress, Limits())
    path = await socket.start()
    # A worker's side: a gateway server whose /events and publish routes go through the link.
    link = EventLink(path)
    config = compile_gateway(estate, Limits(), GatewayServices(events=link))
    gateway = GatewayServer(config, events=link)
    sock = bind("127.0.0.1:0")
    port = sock.getsockname()[1]
    await gateway.start(sock)
    linked = Linked(ingress, bus, socket, link, gateway, f"http://127.0.0.1:{port}", key)
    socket.server.observer = GatewayObserver(GatewayServices(), access_log=True)
    level = access_log.level
    access_log.setLevel(logging.INFO)
    access_log.addHandler(linked.seen)
    try:
        yield linked
    finally:
        access_log.removeHandler(linked.seen)
        access_log.setLevel(level)
        await gateway.stop()
        await link.aclose()
        await socket.stop()
        await bus.close()
        store.close()


@pytest.mark.anyio
async def test_events_pass_through_the_link_as_the_ingress_answers_them(linked: Linked) -> None:
    path = linked.socket.path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    async with httpx.AsyncClient(base_url=linked.url) as client:
        url = f"/events/{TYPE}"
        first = await client.post(
            url, json=DATA, headers=linked.headers("e-1", **{"x-request-id": "r-1"})
        )
        assert first.status_code == 202, first.text
        assert first.headers["x-request-id"] == "r-1"
        assert first.json()["seq"] == 1
        again = await client.post(url, json=DATA, headers=linked.headers("e-1"))
        assert again.json()["duplicate"] is True

        async def chunks() -> AsyncIterator[bytes]:  # a chunked body is streamed on
            text = json.dumps(
                [
                    {
                        "specversion": "1.0",
                        "id": f"b-{n}",
                        "source": "crm",
                        "type": TYPE,
                        "data": DATA,
                    }
                    for n in range(50)
                ]
            ).encode()
            for start in range(0, len(text), 1000):
                yield text[start : start + 1000]

        batch_headers = {
            "x-api-key": linked.key,
            "content-type": "application/cloudevents-batch+json",
        }
        batch = await client.post("/events", content=chunks(), headers=batch_headers)
        assert batch.status_code == 202, batch.text
        assert batch.json()["accepted"] == 50

        # Refusals are the ingress's own documents, header for header.
        bad = {**DATA, "customerId": "nope"}
        cases: list[tuple[str, dict[str, str], Any]] = [
            (url, linked.headers("e-2", **{"x-request-id": "r-2"}), bad),
            (
                url,
                {**linked.headers("e-3", **{"x-request-id": "r-3"}), "x-api-key": "ik_x_y"},
                DATA,
            ),
            ("/events/no.such-type", linked.headers("e-4", **{"x-request-id": "r-4"}), DATA),
        ]
        for target, headers, body in cases:
            via = await client.post(target, json=body, headers=headers)
            lower = {k.lower(): v for k, v in headers.items()}
            raw = json.dumps(body).encode()
            direct = await linked.ingress.handle("POST", target, lower, raw, lower["x-request-id"])
            assert via.status_code == direct.status, via.text
            assert via.content == direct.body
            for name, value in direct.headers:
                assert via.headers[name] == value
        assert (await linked.bus.info(TYPE)).count == 51

        wrong = await client.get(url)
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "POST"
    # The ingress's server saw the gateway's client, from X-Forwarded-For.
    assert linked.seen.clients
    assert set(linked.seen.clients) == {"127.0.0.1"}


@pytest.mark.anyio
async def test_a_rest_to_event_route_publishes_through_the_link(linked: Linked) -> None:
    async with httpx.AsyncClient(base_url=linked.url) as client:
        url = "/open/address-changes"
        sent = await client.post(url, json=DATA, headers={"x-request-id": "change-1"})
        assert sent.status_code == 202, sent.text
        receipt = sent.json()
        assert (receipt["id"], receipt["seq"], receipt["duplicate"]) == ("change-1", 1, False)
        again = await client.post(url, json=DATA, headers={"x-request-id": "change-1"})
        assert again.json()["duplicate"] is True
        refused = await client.post(url, json={**DATA, "customerId": 7})
        assert refused.status_code == 422
        assert [v["pointer"] for v in refused.json()["violations"]] == ["/body/customerId"]
    (stored,) = await linked.bus.read(TYPE, 1, 10)
    event = json.loads(stored.body)
    assert (event["id"], event["source"]) == ("change-1", "/routes/address-changes-open")

    # The link's reply is the ingress's, whatever it is.
    fields: dict[str, Any] = {
        "id": "direct-1",
        "source": "crm/é",  # not a header-safe value: it travels percent-encoded
        "time": "2026-11-22T10:00:00.000Z",
        "request_id": "req-1",
        "data_pointer": "/body",
    }
    for data in (b'{"customerId": 1}', b"{"):
        via: Reply = await linked.link.publish_data(TYPE, data, **fields)
        direct = await linked.ingress.publish_data(TYPE, data, **fields)
        assert via.status in (400, 422)
        assert via == direct
    valid = json.dumps(DATA).encode()
    via = await linked.link.publish_data(TYPE, valid, **fields)
    assert via.status == 202
    direct = await linked.ingress.publish_data(TYPE, valid, **fields)  # now a duplicate
    first = {"accepted": 1, "duplicates": 0, "duplicate": False}
    assert json.loads(via.body) == {**json.loads(direct.body), **first}
    assert json.loads(direct.body)["duplicate"] is True
    assert via.headers == direct.headers
    (_, last) = await linked.bus.read(TYPE, 1, 10)
    assert json.loads(last.body)["source"] == "crm/é"
    assert json.loads(last.body)["time"] == "2026-11-22T10:00:00.000Z"


@pytest.mark.anyio
async def test_an_unreachable_ingress_is_a_503_with_retry_after(
    linked: Linked, tmp_path: Path
) -> None:
    directory = os.path.dirname(linked.socket.path)
    await linked.socket.stop()  # the main process is gone, or restarting
    assert not os.path.exists(directory)
    async with httpx.AsyncClient(base_url=linked.url) as client:
        for url, headers in (
            (f"/events/{TYPE}", linked.headers("e-1", **{"x-request-id": "r-1"})),
            ("/open/address-changes", {"x-request-id": "r-1"}),
        ):
            response = await client.post(url, json=DATA, headers=headers)
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["x-request-id"] == "r-1"
            problem = response.json()
            assert problem["status"] == 503
            assert problem["instance"] == "r-1"
            assert problem["title"] == "Event ingress unavailable"
    assert (await linked.bus.info(TYPE)).count == 0

    nowhere = EventLink(str(tmp_path / "missing" / "ingress.sock"))
    reply = await nowhere.publish_data(TYPE, b"{}", id="x-1", source="crm", request_id="r-2")
    await nowhere.aclose()
    assert reply.status == 503
    assert dict(reply.headers)["retry-after"] == "1"
    assert json.loads(reply.body)["instance"] == "r-2"
