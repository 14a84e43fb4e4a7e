"""The secret store over the admin API: admin role only, values in and never out, errors as
problem documents, and the endpoints in the published OpenAPI."""

from __future__ import annotations

import base64
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.admin.app import create_app
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.vault import Vault, require_master_keys

VALUE = "api-secret-" + os.urandom(6).hex()


class Api:
    def __init__(self, runtime: Runtime) -> None:
        with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        self.runtime = runtime
        self.client = TestClient(create_app(runtime))
        self.admin, _ = runtime.store.tokens.create("admin", "root")
        self.operator, _ = runtime.store.tokens.create("operator", "oncall")

    def call(self, method: str, path: str, token: str | None, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.request(method, path, headers=headers, **kw)
        assert VALUE not in response.text
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        return response.status_code, response.json() if response.content else None


@pytest.fixture
def api(retail_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("INTERLINK_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    runtime = Runtime.open(ServeSettings(retail_dir))
    yield Api(runtime)
    runtime.close()


def test_list_set_rotate_delete(api: Api) -> None:
    path = "/api/v1/secrets/crm-token"
    assert api.call("PUT", path, None, json={"value": VALUE})[0] == 401
    assert api.call("PUT", path, api.operator, json={"value": VALUE})[0] == 403
    status, made = api.call("PUT", path, api.admin, json={"value": VALUE})
    assert status == 201
    assert made["name"] == "crm-token"
    assert made["version"] == 1
    assert set(made) == {"name", "version", "updated_at"}
    status, problem = api.call("PUT", path, api.admin, json={"value": VALUE})
    assert status == 400
    assert "use `interlink secrets rotate crm-token`" in problem["detail"]
    status, rotated = api.call("POST", path + "/rotate", api.admin, json={"value": VALUE + "2"})
    assert status == 200
    assert rotated["version"] == 2
    assert Vault(api.runtime.store, require_master_keys()).get("crm-token") == VALUE + "2"
    status, listed = api.call("GET", "/api/v1/secrets", api.admin)
    assert status == 200
    assert [(s["name"], s["version"]) for s in listed] == [("crm-token", 2)]
    assert api.call("DELETE", path, api.admin) == (204, None)
    status, problem = api.call("DELETE", path, api.admin)
    assert status == 404
    assert problem["detail"] == "no secret 'crm-token' in the store"


def test_bad_requests_are_problems_that_never_echo_the_value(api: Api) -> None:
    status, problem = api.call(
        "PUT", "/api/v1/secrets/bad%20name", api.admin, json={"value": VALUE}
    )
    assert status == 400
    assert "is not valid" in problem["detail"]
    status, problem = api.call(
        "PUT", "/api/v1/secrets/x", api.admin, json={"value": VALUE, "extra": VALUE}
    )
    assert status == 422
    status, _ = api.call("POST", "/api/v1/secrets/missing/rotate", api.admin, json={"value": "v"})
    assert status == 404


def test_without_a_master_key_the_problem_says_so(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTERLINK_MASTER_KEY")
    status, problem = api.call("PUT", "/api/v1/secrets/x", api.admin, json={"value": VALUE})
    assert status == 400
    assert problem["detail"].startswith("no master key configured")


def test_the_endpoints_are_in_the_openapi(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    paths = document["paths"]
    assert set(paths["/api/v1/secrets/{name}"]) == {"put", "delete"}
    assert "post" in paths["/api/v1/secrets/{name}/rotate"]
    assert "get" in paths["/api/v1/secrets"]
    value = document["components"]["schemas"]["SecretValue"]["properties"]["value"]
    assert value["writeOnly"] is True
