"""Run history on a served node with small payload limits: a large input kept by reference and
shown whole on request, an input over the limit refused by the admin API (413) and, from an
event, recorded as a failed run while the event is acked."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.sdk import Publisher
from interlink.testing.processes import run_interlink
from interlink.testing.upstreams import UpstreamThread
from tests.e2e.test_events_workers import SCHEMA
from tests.e2e.test_flows_serve import ESTATE, key, runs, wait_until
from tests.integration.test_serve import start

LIMITS = "spec: {flows: {inlinePayloadBytes: 1024, maxPayloadBytes: 4096, retention: 7d}}"


@pytest.fixture
def root(tmp_path: Path, upstream: UpstreamThread) -> Path:
    root = tmp_path / "estate"
    root.mkdir()
    text = ESTATE.replace("UPSTREAM", upstream.url).replace("spec: {}", LIMITS, 1)
    (root / "estate.yaml").write_text(text)
    (root / "order.placed.v1.schema.json").write_text(json.dumps(SCHEMA))
    return root


@pytest.fixture
def upstream() -> Any:
    with UpstreamThread() as server:
        yield server


def test_large_inputs_by_reference_and_inputs_over_the_limit_refused_or_recorded(
    root: Path, upstream: UpstreamThread
) -> None:
    secret = key(root)
    served = start(root)
    auth = {"Authorization": f"Bearer {served.token}"}
    api = httpx.Client(base_url=served.base, headers=auth, timeout=10)
    try:
        # Over the limit through the admin API: 413, and no run.
        refused = api.post("/api/v1/flows/reserve/runs", json={"orderId": "O1", "x": "y" * 5000})
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert re.fullmatch(
            r"the input is 4\.9\d KiB, over the 4 KiB limit", refused.json()["detail"]
        )

        # Between the two limits: the run keeps its input apart and shows a reference.
        data = {"orderId": "O2", "note": "n" * 2000}
        started = api.post("/api/v1/flows/reserve/runs", json=data)
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        wait_until(lambda: api.get(location).json()["status"] == "completed")
        shown = api.get(location).json()
        ref = shown["input"]
        assert set(ref) == {"$payload", "bytes", "href"}
        assert ref["bytes"] == len(json.dumps(data, separators=(",", ":")))
        assert api.get(ref["href"]).json() == data
        assert api.get(location, params={"payloads": "full"}).json()["input"] == data
        assert api.get(location + "/payloads/" + "0" * 64).status_code == 404
        node = ["--admin", served.base, "--token", served.token]
        cli = run_interlink(["flows", "show", started.json()["id"], "--payloads", "full", *node])
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["input"] == data
        # The same from the store, without the node: a reference by default, whole on request.
        local = ["flows", "show", started.json()["id"]]
        by_ref = json.loads(run_interlink(local, cwd=root).stdout)["input"]
        assert by_ref == {"$payload": ref["$payload"], "bytes": ref["bytes"]}
        whole = run_interlink([*local, "--payloads", "full"], cwd=root)
        assert json.loads(whole.stdout)["input"] == data

        # Over the limit from an event: the run is recorded failed, with why, and the event
        # does not come round again; the next event runs as usual.
        gateway = "http://" + served.proc.wait_for(r"gateway on http://(\S+)").group(1)
        with Publisher(gateway, source="storefront", key=secret) as events:
            big = events.publish(
                "order.placed", {"orderId": "O000003", "total": 1, "x": "y" * 5000}
            )
            events.publish("order.placed", {"orderId": "O000004", "total": 2})

        def by_event() -> dict[str, list[str]]:
            return {r[0]: r for r in runs(root) if r[0] != started.json()["id"]}

        wait_until(lambda: sorted(r[2] for r in by_event().values()) == ["completed", "failed"])
        (failed,) = [r for r in by_event().values() if r[2] == "failed"]
        shown = json.loads(run_interlink(["flows", "show", failed[0]], cwd=root).stdout)
        assert shown["trigger"] == f"event:reserve-orders:{big.id}"
        assert shown["input"]["$payload"] is None  # its size only: nothing of it was kept
        assert re.fullmatch(r"the input is 4\.9\d KiB, over the 4 KiB limit", shown["error"])
        assert [r["path"] for r in upstream.requests] == ["/reserve/O2", "/reserve/O000004"]
    finally:
        api.close()
        served.proc.stop()
