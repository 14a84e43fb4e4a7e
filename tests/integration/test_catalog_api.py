"""The catalog on the admin API: search and one term, token-protected, bad input as problems."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.admin.app import create_app
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings


class Admin:
    def __init__(self, runtime: Runtime) -> None:
        with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        self.client = TestClient(create_app(runtime))
        self.viewer, _ = runtime.store.tokens.create("viewer", "catalog")

    def get(self, path: str, token: str | None = "viewer", **params: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.viewer}"} if token else {}
        response = self.client.get(path, headers=headers, params=params)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        return response.status_code, response.json()


@pytest.fixture
def admin(retail_dir: Path) -> Iterator[Admin]:
    runtime = Runtime.open(ServeSettings(retail_dir))
    yield Admin(runtime)
    runtime.close()


def test_search_and_term_over_the_admin_api(admin: Admin) -> None:
    assert admin.get("/api/v1/catalog/search", None, q="address")[0] == 401
    status, body = admin.get("/api/v1/catalog/search", q="address", kind="term")
    assert status == 200
    assert [(r["name"], r["matched"], r["file"]) for r in body["results"]] == [
        ("Customer address", "term", "glossary.yaml"),
        ("Customer ID", "mapping", "glossary.yaml"),
        ("Postal code", "mapping", "glossary.yaml"),
    ]
    status, body = admin.get("/api/v1/catalog/search", q="postalCode", kind="event")
    assert [(r["kind"], r["part"]) for r in body["results"]] == [("Event", "address.postalCode")]

    status, problem = admin.get("/api/v1/catalog/search", q=" ")
    assert (status, problem["detail"]) == (400, "the search text is empty")
    status, problem = admin.get("/api/v1/catalog/search", q="crm", kind="widget")
    assert status == 400
    assert problem["detail"].startswith("unknown kind 'widget'")
    assert admin.get("/api/v1/catalog/search")[0] == 422  # no q at all

    status, term = admin.get("/api/v1/catalog/terms/zip code")
    assert (status, term["name"], len(term["mappings"])) == (200, "Postal code", 4)
    status, problem = admin.get("/api/v1/catalog/terms/nothing")
    assert status == 404
    assert problem["detail"] == "no term 'nothing'"
