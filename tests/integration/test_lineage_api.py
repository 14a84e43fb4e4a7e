"""`GET /api/v1/lineage/{type}/{key}` in process, on the example's store."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from interlink.admin.app import create_app
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store import Hop


def test_a_subjects_trace_and_its_errors(retail_dir: Path) -> None:
    with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    runtime = Runtime.open(ServeSettings(retail_dir))
    try:
        client = TestClient(create_app(runtime))
        viewer, _ = runtime.store.tokens.create("viewer", "dashboard")
        auth = {"Authorization": f"Bearer {viewer}"}
        now = datetime.now(UTC)
        old = now - timedelta(days=40)
        runtime.store.lineage.record(
            [
                Hop("customer", "C000042", old, "published", "System/crm", "Event/e"),
                Hop("customer", "C000042", now, "delivered", "Subscription/s", "System/erp"),
            ]
        )
        url = "/api/v1/lineage/customer/C000042"
        all_hops = client.get(url, headers=auth)
        assert all_hops.status_code == 200, all_hops.text
        assert [h["kind"] for h in all_hops.json()["hops"]] == ["published", "delivered"]
        recent = client.get(url, params={"since": "30d"}, headers=auth).json()
        assert [h["to"] for h in recent["hops"]] == ["System/erp"]
        none = client.get("/api/v1/lineage/customer/C404", headers=auth)
        assert none.status_code == 200
        assert none.json()["hops"] == []
        assert none.json()["message"].startswith("no record of customer C404")
        unknown = client.get("/api/v1/lineage/order/C1", headers=auth)
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert unknown.json()["detail"] == (
            "no Event or DataProduct declares subject type 'order'; declared: customer, and "
            "DataProduct for product reads"
        )
        # The reads of a product's PII columns: always a subject type, the detail as data too.
        detail = "rows=3 unmasked=email masked=name:partial via=sql"
        read = Hop("DataProduct", "customer-360", now, "read", "DataProduct/customer-360", "a")
        runtime.store.lineage.record([read._replace(detail=detail)])
        reads = client.get("/api/v1/lineage/DataProduct/customer-360", headers=auth).json()
        assert [(h["kind"], h["to"], h["read"]) for h in reads["hops"]] == [
            (
                "read",
                "a",
                {"rows": 3, "unmasked": ["email"], "masked": {"name": "partial"}, "via": "sql"},
            )
        ]
        bad = client.get(url, params={"since": "soon"}, headers=auth)
        assert bad.status_code == 400
        assert client.get(url).status_code == 401
    finally:
        runtime.close()
