"""The Platform's ``telemetry.metrics``: ``/metrics`` is served only while it is true."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

from interlink.admin.app import create_app
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from tests.unit.gateway.helpers import write_estate


def test_metrics_off_is_a_404_problem_until_a_reload_turns_them_on(tmp_path: Path) -> None:
    with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    root = write_estate(tmp_path / "estate", {}, [], platform={"telemetry": {"metrics": False}})
    runtime = Runtime.open(ServeSettings(root, store_url=f"sqlite:///{tmp_path / 'store.db'}"))
    try:
        client = TestClient(create_app(runtime))
        token, _ = runtime.store.tokens.create("viewer", "dashboard")
        auth = {"authorization": f"Bearer {token}"}
        off = client.get("/metrics", headers=auth)
        assert off.status_code == 404
        assert off.headers["content-type"] == "application/problem+json"
        assert "spec.telemetry.metrics is false" in off.json()["detail"]
        write_estate(root, {}, [], platform={"telemetry": {"metrics": True}})
        assert asyncio.run(runtime.reload("test")).ok
        on = client.get("/metrics", headers=auth)
        assert on.status_code == 200
        assert on.headers["content-type"].startswith("text/plain")
    finally:
        runtime.close()
