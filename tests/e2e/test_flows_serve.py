"""Flows run by `interlink serve`: an event through a Subscription starts one run, whose call
reaches the System; a node killed while a call is held resumes the run after its restart; a
flow enriches through an Api and its node wakes it after a wait."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.sdk import Publisher
from interlink.testing.processes import InterlinkProcess, free_port, run_interlink
from interlink.testing.upstreams import UpstreamThread
from tests.e2e.test_events_workers import SCHEMA

ESTATE = """\
apiVersion: interlink/v1
kind: Platform
metadata: {name: small}
spec: {}
---
apiVersion: interlink/v1
kind: Team
metadata: {name: shop}
---
apiVersion: interlink/v1
kind: System
metadata: {name: store, owner: shop}
spec: {domain: sales}
---
apiVersion: interlink/v1
kind: System
metadata: {name: warehouse, owner: shop}
spec: {domain: logistics, baseUrl: "UPSTREAM"}
---
apiVersion: interlink/v1
kind: Event
metadata: {name: order.placed, owner: shop}
spec:
  system: store
  schemas: [{version: 1, file: order.placed.v1.schema.json}]
---
apiVersion: interlink/v1
kind: Plan
metadata: {name: internal, owner: shop}
spec:
  limits: [{requests: 100000, per: 1s}]
---
apiVersion: interlink/v1
kind: Consumer
metadata: {name: storefront, owner: shop}
spec:
  type: internal
  plan: internal
  system: store
  scopes: ["events:publish:order.placed"]
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: reserve, owner: shop}
spec:
  inputSchema: {type: object, required: [orderId], properties: {orderId: {type: string}}}
  steps:
    - {name: reserve, type: call, system: warehouse, path: "/reserve/{orderId}"}
    - {name: done, type: map, expression: '{"reserved": $steps.reserve.path}'}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: tally, owner: shop}
spec:
  trigger: {event: order.placed}
  steps:
    - {name: count, type: map, expression: '{"order": orderId}'}
---
apiVersion: interlink/v1
kind: Subscription
metadata: {name: reserve-orders, owner: shop}
spec:
  event: order.placed
  target: {flow: reserve}
"""


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as server:
        yield server


@pytest.fixture
def root(tmp_path: Path, upstream: UpstreamThread) -> Path:
    root = tmp_path / "estate"
    root.mkdir()
    (root / "estate.yaml").write_text(ESTATE.replace("UPSTREAM", upstream.url))
    (root / "order.placed.v1.schema.json").write_text(json.dumps(SCHEMA))
    return root


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def serve(root: Path) -> tuple[InterlinkProcess, str]:
    proc = InterlinkProcess(
        ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}"]
    ).start()
    gateway = proc.wait_for(r"gateway on http://(\S+)").group(1)
    return proc, f"http://{gateway}"


def runs(root: Path) -> list[list[str]]:
    listed = run_interlink(["flows", "runs", "reserve"], cwd=root)
    assert listed.returncode == 0, listed.stderr
    return [line.split("  ") for line in listed.stdout.splitlines()]


def key(root: Path) -> str:
    created = run_interlink(["consumers", "key", "create", "storefront"], cwd=root)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def test_an_event_starts_one_run_whose_call_reaches_the_system(
    root: Path, upstream: UpstreamThread
) -> None:
    secret = key(root)
    proc, gateway = serve(root)
    try:
        with Publisher(gateway, source="storefront", key=secret) as events:
            first = events.publish("order.placed", {"orderId": "O000001", "total": 1.5})
            again = events.publish(
                "order.placed", {"orderId": "O000001", "total": 1.5}, id=first.id
            )
            assert again.duplicate
        (run,) = wait_until(lambda: [r for r in runs(root) if r[2] == "completed"])
        shown = json.loads(run_interlink(["flows", "show", run[0]], cwd=root).stdout)
        assert shown["trigger"] == f"event:reserve-orders:{first.id}"
        assert shown["message"] == {"reserved": "/reserve/O000001"}
        assert [r["path"] for r in upstream.requests] == ["/reserve/O000001"]
        assert len(runs(root)) == 1
        # trigger.event is a Subscription of its own: one run of its flow too.
        listed = run_interlink(["flows", "runs", "tally"], cwd=root)
        (tally,) = [line.split("  ") for line in listed.stdout.splitlines()]
        shown = json.loads(run_interlink(["flows", "show", tally[0]], cwd=root).stdout)
        assert shown["trigger"] == f"event:flow-tally:{first.id}"
        assert shown["message"] == {"order": "O000001"}
    finally:
        assert proc.stop() == 0, proc.output


def test_a_run_held_by_a_killed_node_completes_after_the_restart(
    root: Path, upstream: UpstreamThread
) -> None:
    secret = key(root)
    upstream.hold("/reserve/O000002")
    proc, gateway = serve(root)
    try:
        with Publisher(gateway, source="storefront", key=secret) as events:
            events.publish("order.placed", {"orderId": "O000002", "total": 2.5})
        wait_until(lambda: upstream.requests)
        proc.kill()
    finally:
        proc.stop()
    upstream.release("/reserve/O000002")
    ((run_id, _, status, _),) = runs(root)
    assert status == "running"
    proc, _ = serve(root)
    try:
        wait_until(lambda: runs(root)[0][2] == "completed")
        first, second = upstream.requests
        assert first["path"] == second["path"] == "/reserve/O000002"
        key_of = [r["headers"]["idempotency-key"] for r in (first, second)]
        assert key_of == [f"{run_id}:reserve"] * 2
    finally:
        assert proc.stop() == 0, proc.output


RESTOCK = """\
---
apiVersion: interlink/v1
kind: Api
metadata: {name: stock, owner: shop}
spec: {system: warehouse, contract: stock.yaml}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: restock, owner: shop}
spec:
  steps:
    - {name: level, type: enrich, from: {api: stock, path: "/stock/{orderId}"}, into: level}
    - {name: pause, type: wait, for: 1s}
    - {name: order, type: call, system: warehouse, path: "/order/{orderId}"}
---
apiVersion: interlink/v1
kind: Subscription
metadata: {name: restock-orders, owner: shop}
spec:
  event: order.placed
  target: {flow: restock}
"""

CONTRACT = """\
openapi: 3.0.3
info: {title: stock, version: "1.0"}
paths:
  /stock/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: the stock level}}
"""


def test_a_served_flow_enriches_through_an_api_and_its_node_wakes_it_after_a_wait(
    root: Path, upstream: UpstreamThread
) -> None:
    with (root / "estate.yaml").open("a") as estate:
        estate.write(RESTOCK)
    (root / "stock.yaml").write_text(CONTRACT)
    secret = key(root)
    proc, gateway = serve(root)
    try:
        with Publisher(gateway, source="storefront", key=secret) as events:
            events.publish("order.placed", {"orderId": "O000003", "total": 3.5})

        def restock() -> list[list[str]]:
            listed = run_interlink(["flows", "runs", "restock"], cwd=root)
            assert listed.returncode == 0, listed.stderr
            return [line.split("  ") for line in listed.stdout.splitlines()]

        (run,) = wait_until(lambda: [r for r in restock() if r[2] == "completed"])
        shown = json.loads(run_interlink(["flows", "show", run[0]], cwd=root).stdout)
        steps = {s["name"]: s for s in shown["steps"]}
        assert steps["pause"]["status"] == "completed"
        assert steps["level"]["output"]["path"] == "/stock/O000003"
        paths = [r["path"] for r in upstream.requests]
        assert paths.index("/stock/O000003") < paths.index("/order/O000003")
    finally:
        assert proc.stop() == 0, proc.output
