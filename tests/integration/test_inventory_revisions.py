"""The inventory's declared side is worked out once per estate revision and merged with the
store's counts on each read: traffic recorded between two reads shows, a reload's new Route
shows, and reading never changes what the snapshot keeps."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store import ObservedConnection
from tests.integration.test_console import Console
from tests.integration.test_inventory_observed import Api

NEW_ROUTE = """\
---
apiVersion: interlink/v1
kind: Route
metadata:
  name: customers-v3
  owner: sales
spec:
  match: {path: /api/v3/customers}
  upstreams:
    - {system: crm}
  auth:
    methods: [{type: apiKey}]
    scopes: [customers:read]
"""


def requests(api: Api) -> dict[tuple[str, str], dict[str, Any]]:
    """The inventory's request connections on the admin API, by (from, how)."""
    got = api.client.get("/api/v1/inventory?kind=request", headers=api.headers)
    assert got.status_code == 200, got.text
    return {(c["from"], c["how"]): c for c in got.json()["connections"]}


@pytest.fixture
def runtime(retail_dir: Path, tmp_path: Path) -> Iterator[Runtime]:
    settings = ServeSettings(retail_dir, store_url=f"sqlite:///{tmp_path / 'store.db'}")
    runtime = Runtime.open(settings)
    yield runtime
    runtime.close()


def test_declared_side_kept_per_revision_and_merged_with_each_reads_counts(
    runtime: Runtime, retail_dir: Path
) -> None:
    api = Api(runtime)
    mobile = ("Consumer/mobile-app", "Route/customers-v2")
    first = requests(api)
    assert first[mobile]["unused"]
    assert first[mobile]["count"] == 0
    kept = runtime.snapshot.declared
    assert runtime.snapshot.declared is kept  # worked out once for the revision

    hour = datetime.now(UTC) - timedelta(hours=1)
    runtime.store.connections.record(
        [ObservedConnection(hour, "mobile-app", "customers-v2", "crm", 7, 1)]
    )
    second = requests(api)
    assert (second[mobile]["count"], second[mobile]["errors"]) == (7, 1)
    assert not second[mobile]["unused"]
    assert all(c.count == 0 and not c.hours for c in kept)  # the kept rows never counted

    routes = retail_dir / "gateway" / "routes.yaml"
    routes.write_text(routes.read_text() + NEW_ROUTE)
    result = asyncio.run(runtime.reload("test"))
    assert result.ok, result
    assert result.changed
    assert runtime.snapshot.declared is not kept
    third = requests(api)
    assert third[("Consumer/mobile-app", "Route/customers-v3")]["unused"]
    assert third[mobile]["count"] == 7
    assert not [k for k in first if k[1] == "Route/customers-v3"]


def test_the_search_as_typed_reuses_the_inventory_the_page_read(
    runtime: Runtime, retail_dir: Path
) -> None:
    console = Console(runtime)
    client = console.sign_in(console.viewer)
    page = client.get("/console/inventory", params={"q": "mobile-app"})
    assert page.status_code == 200, page.text
    hour = datetime.now(UTC) - timedelta(hours=1)
    runtime.store.connections.record(
        [ObservedConnection(hour, "mobile-app", "customers-v2", "crm", 4321, 0)]
    )
    rows = {"HX-Target": "inventory-rows"}
    typed = client.get("/console/inventory", params={"q": "mobile-ap"}, headers=rows)
    assert typed.status_code == 200
    assert "mobile-app" in typed.text
    per_hour = f">{round(4321 / (7 * 24), 3)}<"  # in the 7 days' window
    assert per_hour not in typed.text  # the counts the page read, not read again
    fresh = client.get("/console/inventory", params={"q": "mobile-app"})
    assert per_hour in fresh.text  # a page load reads them afresh
    assert "4321" in client.get("/console/inventory.csv", params={"q": "mobile-app"}).text
    # A new revision's inventory is read for the search, never the previous one's.
    routes = retail_dir / "gateway" / "routes.yaml"
    routes.write_text(routes.read_text() + NEW_ROUTE)
    assert asyncio.run(runtime.reload("test")).changed
    typed = client.get("/console/inventory", params={"q": "customers-v3"}, headers=rows)
    assert "Route/customers-v3" in typed.text
