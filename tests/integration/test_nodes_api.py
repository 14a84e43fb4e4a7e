"""`GET /api/v1/nodes` and `POST /api/v1/estate/revisions` on the admin API, over a runtime on
each store backend."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlink.admin.app import create_app
from interlink.runtime import bundle as bundles
from interlink.runtime.bundle import BUNDLE_MEDIA_TYPE, estate_files, pack
from interlink.runtime.nodes import NodeReport
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.runtime.snapshot import compile_snapshot
from tests.integration.cluster import plan_estate


class Api:
    def __init__(self, runtime: Runtime) -> None:
        with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        self.runtime = runtime
        self.client = TestClient(create_app(runtime))
        self.admin, _ = runtime.store.tokens.create("admin", "ci")
        self.viewer, _ = runtime.store.tokens.create("viewer", "dashboard")

    def auth(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def apply(self, bundle: bytes, token: str | None) -> tuple[int, dict[str, object]]:
        headers = {**self.auth(token), "content-type": BUNDLE_MEDIA_TYPE}
        response = self.client.post("/api/v1/estate/revisions", content=bundle, headers=headers)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        return response.status_code, response.json()


@pytest.fixture
def api(tmp_path: Path, store_url: str) -> Iterator[Api]:
    runtime = Runtime.open(ServeSettings(plan_estate(tmp_path / "a", 100), store_url=store_url))
    yield Api(runtime)
    runtime.close()


def bundle_of(directory: Path) -> bytes:
    return pack(estate_files(compile_snapshot(directory).estate))


def test_nodes_lists_each_node_with_what_it_runs(api: Api) -> None:
    report = NodeReport(api.runtime, "127.0.0.1:8081", "127.0.0.1:8080")
    api.runtime.node_id = report.id
    report.beat()
    other = api.runtime.store.nodes
    other.beat(
        "zz-old",
        admin_address="10.0.0.2:8081",
        gateway_address="10.0.0.2:8080",
        revision=None,
        started_at=report.started_at.replace(year=2020),
        health={"store": "ok"},
    )
    with api.runtime.store.db.transaction() as session:  # silent since 2020
        session.execute(
            "UPDATE nodes SET heartbeat_at = ? WHERE id = 'zz-old'",
            (api.runtime.store.db.ts(report.started_at.replace(year=2020)),),
        )
    response = api.client.get("/api/v1/nodes", headers=api.auth(api.viewer))
    assert response.status_code == 200
    body = response.json()
    rev = api.runtime.snapshot.revision
    assert rev is not None
    assert body["current_revision"] == {"id": rev.id, "hash": rev.hash}
    mine, old = body["nodes"]
    assert mine["id"] == report.id
    assert mine["self"] is True
    assert (mine["admin_address"], mine["gateway_address"]) == ("127.0.0.1:8081", "127.0.0.1:8080")
    assert mine["revision"] == {"id": rev.id, "hash": rev.hash}
    assert mine["live"] is True
    assert mine["health"] == {"store": "ok", "bus": "not running", "gateway": "not running"}
    assert {"started_at", "heartbeat_at"} <= mine.keys()
    assert (old["id"], old["self"], old["live"], old["revision"]) == ("zz-old", False, False, None)


@pytest.mark.parametrize("token", [None, "il_abcdefgh_" + "x" * 43])
def test_nodes_needs_a_token(api: Api, token: str | None) -> None:
    response = api.client.get("/api/v1/nodes", headers=api.auth(token))
    assert response.status_code == 401


def test_apply_records_and_runs_the_uploaded_estate(api: Api, tmp_path: Path) -> None:
    status, body = api.apply(bundle_of(plan_estate(tmp_path / "b", 7)), api.admin)
    assert status == 201, body
    revision = body["revision"]
    assert isinstance(revision, dict)
    assert (revision["id"], revision["source"], revision["applied_by"]) == (2, "apply", "token:ci")
    assert revision["summary"]["changed"] == ["Plan/anonymous"]
    assert api.runtime.snapshot.content_hash == revision["hash"]
    # The same content again is a revision of its own: explicit applies are how to roll back.
    status, body = api.apply(bundle_of(plan_estate(tmp_path / "b", 7)), api.admin)
    assert status == 201
    assert body["revision"]["id"] == 3  # type: ignore[index]


def test_apply_of_an_estate_with_errors_answers_its_findings(api: Api) -> None:
    files = dict(estate_files(api.runtime.snapshot.estate))
    files["plans.yaml"] = b"apiVersion: interlink/v1\nkind: Plan\nmetadata: {name: x}\nspec: 3\n"
    status, body = api.apply(pack(files), api.admin)
    assert status == 422
    assert body["detail"] == "the estate has errors; the running revision is unchanged"
    errors = body["errors"]
    assert isinstance(errors, list)
    assert errors
    assert {e["file"] for e in errors} == {"plans.yaml"}
    assert [r.id for r in api.runtime.store.revisions.list()] == [1]


def test_apply_of_what_is_not_a_bundle_is_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body = api.apply(b"apiVersion: interlink/v1\n", api.admin)
    assert (status, body["detail"]) == (
        422,
        "not an estate bundle (it must start with 'interlink-bundle/1')",
    )
    monkeypatch.setattr(bundles, "MAX_BUNDLE_BYTES", 10)
    status, body = api.apply(b"x" * 100, api.admin)
    assert status == 413
    assert "over the" in str(body["detail"])


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("viewer", 403)])
def test_apply_needs_an_admin_token(api: Api, tmp_path: Path, who: str | None, status: int) -> None:
    token = api.viewer if who == "viewer" else None
    got, _ = api.apply(bundle_of(plan_estate(tmp_path / "b", 7)), token)
    assert got == status
    assert [r.id for r in api.runtime.store.revisions.list()] == [1]


def test_readyz_says_not_ready_while_the_node_lags_the_store(api: Api, tmp_path: Path) -> None:
    assert api.client.get("/readyz").status_code == 200
    api.runtime.store.revisions.record("f" * 64, "old-version", "start", {}, {})
    assert asyncio.run(api.runtime.catch_up()) is False  # no content to run it from
    api.runtime.behind_since = 0.0  # as if long ago
    response = api.client.get("/readyz")
    assert response.status_code == 503
    assert "older than the store's current one" in response.json()["detail"]
