"""The inventory's declared side is worked out once per estate revision and merged with the
store's counts on each read: traffic recorded between two reads shows, a reload's new Route
shows, and reading never changes what the snapshot keeps."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlink.admin.app import create_app
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store import ObservedConnection

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


class Client:
    def __init__(self, runtime: Runtime) -> None:
        with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        self.http = TestClient(create_app(runtime))
        viewer, _ = runtime.store.tokens.create("viewer", "dashboard")
        self.headers = {"Authorization": f"Bearer {viewer}"}

    def requests(self) -> dict[tuple[str, str], dict[str, Any]]:
        got = self.http.get("/api/v1/inventory?kind=request", headers=self.headers)
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
    client = Client(runtime)
    mobile = ("Consumer/mobile-app", "Route/customers-v2")
    first = client.requests()
    assert first[mobile]["unused"]
    assert first[mobile]["count"] == 0
    kept = runtime.snapshot.declared
    assert runtime.snapshot.declared is kept  # worked out once for the revision

    hour = datetime.now(UTC) - timedelta(hours=1)
    runtime.store.connections.record(
        [ObservedConnection(hour, "mobile-app", "customers-v2", "crm", 7, 1)]
    )
    second = client.requests()
    assert (second[mobile]["count"], second[mobile]["errors"]) == (7, 1)
    assert not second[mobile]["unused"]
    assert all(c.count == 0 and not c.hours for c in kept)  # the kept rows never counted

    routes = retail_dir / "gateway" / "routes.yaml"
    routes.write_text(routes.read_text() + NEW_ROUTE)
    result = asyncio.run(runtime.reload("test"))
    assert result.ok, result
    assert result.changed
    assert runtime.snapshot.declared is not kept
    third = client.requests()
    assert third[("Consumer/mobile-app", "Route/customers-v3")]["unused"]
    assert third[mobile]["count"] == 7
    assert not [k for k in first if k[1] == "Route/customers-v3"]
