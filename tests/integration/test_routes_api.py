"""`GET /api/v1/routes/{name}/comparison` through `interlink serve` on the example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from interlink.store import default_store_url, open_store
from tests.integration.test_serve import start


def test_the_comparison_of_a_route_is_read_from_the_store(retail_dir: Path) -> None:
    served = start(retail_dir)
    try:
        base, auth = served.base, {"Authorization": f"Bearer {served.token}"}
        url = f"{base}/api/v1/routes/customers/comparison"
        empty = httpx.get(url, headers=auth, timeout=10)
        assert empty.status_code == 200, empty.text
        assert empty.json()["compared"] == 0
        assert empty.json()["matchRate"] is None
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        with open_store(default_store_url(retail_dir)) as store:
            store.comparisons.record("customers", now, 40, 30, {"/tier": 8, "(status)": 2})
            store.comparisons.record("customers", now - timedelta(hours=3), 10, 0, {"/name": 10})
        recent = httpx.get(url, params={"since": "1h"}, headers=auth, timeout=10).json()
        assert recent["compared"] == 40
        assert recent["matched"] == 30
        assert recent["mismatched"] == 10
        assert recent["matchRate"] == 0.75
        assert recent["fields"] == [
            {"field": "/tier", "mismatches": 8},
            {"field": "(status)", "mismatches": 2},
        ]
        day = httpx.get(url, params={"top": 1}, headers=auth, timeout=10).json()
        assert (day["compared"], day["fields"]) == (50, [{"field": "/name", "mismatches": 10}])
        missing = httpx.get(f"{base}/api/v1/routes/nope/comparison", headers=auth, timeout=10)
        assert missing.status_code == 404
        bad = httpx.get(url, params={"since": "soon"}, headers=auth, timeout=10)
        assert bad.status_code == 400
        assert httpx.get(url, timeout=10).status_code == 401
    finally:
        served.proc.stop()
