"""Real traffic in the inventory: requests through a gateway and events through the mesh,
counted where they pass, written to the store, and merged with what the estate declares;
and the inventory and impact on the admin API."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlink.admin.app import create_app
from interlink.estate.check import check_estate
from interlink.estate.references import SecretSource
from interlink.events.mesh import EventMesh
from interlink.observe.inventory import Inventory, read_inventory
from interlink.observe.links import LinkFlusher
from interlink.runtime.flows import FlowRunner
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store import ObservedLink, Store, open_store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.events.test_mesh import DATA, TYPE, Receivers, receivers, wait_for
from tests.integration.gateway.test_observe import Observed, observed, upstream

__all__ = ["observed", "receivers", "upstream"]  # fixtures used here


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def window(store: Store, estate_dir: Path) -> Inventory:
    now = datetime.now(UTC)
    estate = check_estate(estate_dir).estate
    return read_inventory(estate, store, now - timedelta(hours=1), now)


def test_gateway_requests_are_observed_connections(observed: Observed, tmp_path: Path) -> None:
    key = observed.key("mobile-app")
    for _ in range(3):
        assert observed.client.get("/keys", headers={"x-api-key": key}).status_code == 200
    assert observed.client.get("/open").status_code == 200
    assert observed.flush() == 2
    inv = window(observed.store, tmp_path / "estate")
    seen = {c.key: c for c in inv.connections if c.observed}
    keys = seen[("request", "Consumer/mobile-app", "System/crm", "Route/keys")]
    assert keys.count == 3
    assert keys.declared
    anyone = seen[("request", "*", "System/crm", "Route/open")]  # no auth: any caller
    assert anyone.count == 1
    unused = {c.key for c in inv.connections if c.unused}
    assert ("request", "Consumer/mobile-app", "System/crm", "Route/either") in unused


@pytest.mark.anyio
async def test_publishes_and_deliveries_are_observed_an_operators_publish_undeclared(
    retail_dir: Path, tmp_path: Path, receivers: Receivers
) -> None:
    estate = check_estate(retail_dir).estate
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store: Store = open_store(url)
    store.migrate()
    key, _ = store.consumer_keys.create("crm-publisher", "test")
    token, _ = store.tokens.create("operator", "ops")
    mesh = EventMesh(estate, store, url, secrets=SecretSource(directory=receivers.secrets_dir))
    await mesh.start()

    async def publish(credential: str, number: int, data: object) -> int:
        event = {"specversion": "1.0", "id": f"e-{number}", "source": "crm", "type": TYPE}
        headers = {"content-type": "application/cloudevents+json"}
        headers["x-api-key" if credential.startswith("ik_") else "authorization"] = (
            credential if credential.startswith("ik_") else f"Bearer {credential}"
        )
        body = json.dumps({**event, "data": data}).encode()
        reply = await mesh.ingress.handle("POST", f"/events/{TYPE}", headers, body)
        return reply.status

    try:
        assert await publish(key, 1, DATA) == 202
        assert await publish(key, 2, {"customerId": "nope"}) == 422  # refused by its schema
        assert await publish(token, 3, DATA) == 202
        logistics = receivers.logistics
        await wait_for(lambda: len(logistics.delivered) == 2)
    finally:
        await mesh.close()  # writes what it counted
    inv = window(store, retail_dir)
    store.close()
    seen = {c.key: c for c in inv.connections if c.observed}
    event = f"Event/{TYPE}"
    published = seen[("publish", "Consumer/crm-publisher", event, "events")]
    assert (published.count, published.errors, published.declared) == (2, 1, True)
    assert published.error_rate == 0.5
    operator = seen[("publish", "", event, "events")]
    assert operator.undeclared
    delivered = seen[
        ("deliver", "Subscription/logistics-address-updates", "System/logistics", event)
    ]
    assert delivered.count >= 2
    assert delivered.declared
    assert inv.filtered(undeclared=True) == [operator]
    assert inv.summary()["observed"] >= 3


class Api:
    def __init__(self, runtime: Runtime) -> None:
        with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        self.client = TestClient(create_app(runtime))
        viewer, _ = runtime.store.tokens.create("viewer", "dashboard")
        self.headers = {"Authorization": f"Bearer {viewer}"}


@pytest.fixture
def api(retail_dir: Path, tmp_path: Path) -> Iterator[Api]:
    settings = ServeSettings(retail_dir, store_url=f"sqlite:///{tmp_path / 'store.db'}")
    runtime = Runtime.open(settings)
    hour = datetime.now(UTC) - timedelta(hours=1)
    runtime.store.links.record(
        [ObservedLink(hour, "publish", "", "Event/order.placed", "events", 2)]
    )
    yield Api(runtime)
    runtime.close()


def test_the_admin_api_gives_the_inventory_and_impact(api: Api) -> None:
    got = api.client.get("/api/v1/inventory?undeclared=true", headers=api.headers)
    assert got.status_code == 200
    document = got.json()
    assert [(c["from"], c["to"]) for c in document["connections"]] == [("", "Event/order.placed")]
    assert document["summary"]["undeclared"] == 1
    kinds = api.client.get("/api/v1/inventory?kind=deliver&since=30d", headers=api.headers)
    assert {c["kind"] for c in kinds.json()["connections"]} == {"deliver"}

    impact = api.client.get("/api/v1/impact/event/order.placed", headers=api.headers)
    assert impact.status_code == 200
    assert impact.json()["flows"] == ["order-saga"]

    for path, status in (
        ("/api/v1/inventory?since=lately", 400),
        ("/api/v1/inventory?kind=telepathy", 422),
        ("/api/v1/impact/Route/customers", 400),
        ("/api/v1/impact/System/crn", 404),
    ):
        bad = api.client.get(path, headers=api.headers)
        assert bad.status_code == status, path
        assert bad.headers["content-type"] == "application/problem+json"
    assert (
        "System/crm"
        in api.client.get("/api/v1/impact/System/crn", headers=api.headers).json()["detail"]
    )
    assert api.client.get("/api/v1/inventory").status_code == 401


FLOW_ESTATE = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: data}
---
apiVersion: interlink/v1
kind: System
metadata: {name: erp, owner: data}
spec: {domain: data, baseUrl: URL}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: sync, owner: data}
spec:
  trigger: {manual: true}
  steps:
    - {name: push, type: call, system: erp, method: POST, path: /orders}
"""


def test_a_flows_runs_and_calls_are_observed_connections(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    root = tmp_path / "estate"
    root.mkdir()
    (root / "estate.yaml").write_text(FLOW_ESTATE.replace("URL", upstream.url), encoding="utf-8")
    runtime = Runtime.open(ServeSettings(root, store_url=f"sqlite:///{tmp_path / 'node.db'}"))

    async def go() -> None:
        runner = FlowRunner(runtime)
        try:
            for trigger in ("api", "schedule"):  # a schedule the flow does not declare
                run = await runner.engine.start_and_run("sync", {"id": 1}, trigger)
                assert run.status == "completed", run.error
        finally:
            await runner.close()
        assert await LinkFlusher(runtime.links, runtime.store).flush() == 3

    try:
        asyncio.run(go())
        inv = window(runtime.store, root)
    finally:
        runtime.close()
    seen = {c.key: c for c in inv.connections if c.observed}
    call = seen[("call", "Flow/sync", "System/erp", "push")]
    assert (call.count, call.errors, call.declared) == (2, 0, True)
    assert seen[("trigger", "api", "Flow/sync", "api")].declared
    assert seen[("trigger", "schedule", "Flow/sync", "schedule")].undeclared
