"""What a data-plane node calls on the control plane's admin API, over a runtime on each store
backend: the current revision (held until a newer one), its bundle, and the node's report; and
the dataplane role that admits it there and nowhere else."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.admin.app import create_app
from interlink.runtime.bundle import BUNDLE_MEDIA_TYPE, estate_files, pack, unpack
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.runtime.snapshot import compile_snapshot
from interlink.store import ROLES
from tests.integration.cluster import plan_estate


class Api:
    def __init__(self, runtime: Runtime) -> None:
        with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        self.runtime = runtime
        self.client = TestClient(create_app(runtime))
        self.tokens: dict[str, str] = {
            role: runtime.store.tokens.create(role, f"{role}-token")[0] for role in ROLES
        }

    def call(self, method: str, path: str, role: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)


@pytest.fixture
def api(tmp_path: Path, store_url: str) -> Iterator[Api]:
    runtime = Runtime.open(ServeSettings(plan_estate(tmp_path / "a", 100), store_url=store_url))
    yield Api(runtime)
    runtime.close()


def status(revision: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "admin_address": "10.0.0.7:8081",
        "gateway_address": "10.0.0.7:8080",
        "revision": revision,
        "started_at": "2026-12-06T10:00:00+00:00",
        "health": {"gateway": "ok", "revision": "ok"},
    }


def test_a_dataplane_token_reads_the_current_revision_and_its_bundle(
    api: Api, tmp_path: Path
) -> None:
    running = api.runtime.snapshot.revision
    assert running is not None
    current = api.call("GET", "/api/v1/estate/revisions/current", "dataplane")
    assert current.status_code == 200, current.text
    body = current.json()
    assert (body["id"], body["hash"]) == (running.id, running.hash)
    assert body["object_hashes"] == running.object_hashes
    bundle = api.call("GET", body["bundle"], "dataplane")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == BUNDLE_MEDIA_TYPE
    assert unpack(bundle.content) == estate_files(api.runtime.snapshot.estate)

    # Nothing newer than what the node runs: 204, after the wait asked for.
    after = api.call(
        "GET", f"/api/v1/estate/revisions/current?after={running.id}&wait=0.2", "dataplane"
    )
    assert after.status_code == 204

    missing = api.call("GET", f"/api/v1/estate/bundles/{'0' * 64}", "dataplane")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_a_held_request_returns_the_revision_recorded_while_it_waits(
    api: Api, tmp_path: Path
) -> None:
    running = api.runtime.snapshot.revision
    assert running is not None
    newer = pack(estate_files(compile_snapshot(plan_estate(tmp_path / "b", 7)).estate))

    async def wait_and_apply() -> tuple[int, str] | None:
        waiting = asyncio.create_task(api.runtime.wait_for_revision(running.id, 30))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        result = await api.runtime.apply(newer, "test")
        assert result.ok
        return await waiting

    head = asyncio.run(wait_and_apply())
    assert head is not None
    assert head[0] == running.id + 1
    current = api.call(
        "GET", f"/api/v1/estate/revisions/current?after={running.id}&wait=5", "dataplane"
    )
    assert current.status_code == 200
    assert current.json()["id"] == running.id + 1


def test_a_reported_node_shows_in_the_nodes_list(api: Api) -> None:
    running = api.runtime.snapshot.revision
    assert running is not None
    revision = {"id": running.id, "hash": running.hash}
    put = api.call("PUT", "/api/v1/nodes/edge-1", "dataplane", json=status(revision))
    assert put.status_code == 204, put.text
    listed = api.call("GET", "/api/v1/nodes", "viewer").json()
    (node,) = [n for n in listed["nodes"] if n["id"] == "edge-1"]
    assert node["live"] is True
    assert node["revision"] == revision
    assert node["gateway_address"] == "10.0.0.7:8080"
    assert node["health"] == {"gateway": "ok", "revision": "ok"}

    bad = api.call("PUT", "/api/v1/nodes/edge-1", "dataplane", json=status({"id": 1, "hash": "x"}))
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_only_a_dataplane_token_reads_bundles_and_reports_nodes(api: Api, role: str) -> None:
    rev = api.runtime.snapshot.revision
    assert rev is not None
    for method, path, kwargs in (
        ("GET", "/api/v1/estate/revisions/current", {}),
        ("GET", f"/api/v1/estate/bundles/{rev.hash}", {}),
        ("PUT", "/api/v1/nodes/edge-1", {"json": status(None)}),
    ):
        refused = api.call(method, path, role, **kwargs)
        assert refused.status_code == 403, (method, path)
        assert "needs the dataplane role" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/estate"),
        ("GET", "/api/v1/estate/revisions"),
        ("GET", "/api/v1/estate/revisions/1"),
        ("GET", "/api/v1/graph"),
        ("GET", "/api/v1/nodes"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/estate/reload"),
        ("POST", "/api/v1/estate/revisions"),
        ("GET", "/api/v1/subscriptions"),
    ],
)
def test_a_dataplane_token_is_refused_everywhere_else(api: Api, method: str, path: str) -> None:
    refused = api.call(method, path, "dataplane", json={"role": "admin", "name": "x"})
    assert refused.status_code == 403, refused.text
    assert "the token has dataplane" in refused.json()["detail"]


def test_every_admin_api_route_names_the_roles_it_admits(api: Api) -> None:
    """Deny by default: each /api route refuses the dataplane token unless it is one of the
    data-plane routes, so a route added later without a role gate fails here."""
    data_plane = {
        ("GET", "/api/v1/estate/revisions/current"),
        ("GET", "/api/v1/estate/bundles/{content_hash}"),
        ("PUT", "/api/v1/nodes/{node_id}"),
    }
    schema = api.client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method in operations:
            concrete = (
                path.replace("{content_hash}", "0" * 64)
                .replace("{node_id}", "edge-1")
                .replace("{revision_id}", "1")
            )
            concrete = concrete.replace("{", "").replace("}", "")
            response = api.call(method.upper(), concrete, "dataplane", json=status(None))
            if (method.upper(), path) in data_plane:
                assert response.status_code != 403, (method, path)
            else:
                assert response.status_code == 403, (method, path, response.status_code)
