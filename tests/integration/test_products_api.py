"""`POST /api/v1/products/{name}/refresh`: a materialised product refreshed now over the admin
API, by a platform operator or one of the product's owning Team."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.admin.app import create_app
from interlink.products.history import RefreshHistory
from interlink.products.service import Products
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from tests.unit.products.helpers import make_estate, orders_db, orders_product

ROWS = [
    (1, "open", "ann@example.org", 10.0, "2026-01-01 10:00:00"),
    (2, "shipped", "bob@example.org", 5.5, "2026-01-02 10:00:00"),
]
REFRESH = "  refresh: {schedule: '0 * * * *'}"


class Api:
    def __init__(self, runtime: Runtime) -> None:
        with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        self.client = TestClient(create_app(runtime))
        store = runtime.store
        self.tokens = {
            "operator": store.tokens.create("operator", "ops")[0],
            "data": store.tokens.create("operator", "data-ops", team="data")[0],
            "other": store.tokens.create("operator", "other-ops", team="other")[0],
            "viewer": store.tokens.create("viewer", "dashboard")[0],
        }

    def refresh(self, name: str, who: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        response = self.client.post(f"/api/v1/products/{name}/refresh", headers=headers)
        return response.status_code, response.json()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    orders_db(tmp_path, ROWS)
    estate_dir = make_estate(tmp_path, orders_product("materialised", refresh=REFRESH))
    runtime = Runtime.open(ServeSettings(estate_dir))
    history = RefreshHistory(runtime.store.db)
    runtime.products = Products(lambda: runtime.snapshot.estate, tmp_path / "data", history=history)
    yield Api(runtime)
    runtime.close()


def test_a_product_is_refreshed_by_its_team_or_a_platform_operator(api: Api) -> None:
    status, body = api.refresh("orders", "data")
    assert status == 200, body
    assert (body["product"], body["outcome"], body["rows"]) == ("orders", "ok", 2)
    assert api.refresh("orders", "operator")[0] == 200
    status, problem = api.refresh("orders", "other")
    assert status == 403
    assert problem["detail"] == (
        "DataProduct/orders is owned by team data: a token of team other cannot products.refresh it"
    )
    assert api.refresh("orders", "viewer")[0] == 403
    status, problem = api.refresh("order", "operator")
    assert status == 404
    assert "did you mean 'orders'" in problem["detail"]
