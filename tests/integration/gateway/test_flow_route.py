"""Routes that start a Flow (a process API): the answer for each way a run ends, served by a
gateway with a flow engine over a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.flows.calls import system_targets
from interlink.flows.engine import FlowEngine
from interlink.flows.retry import RetryPolicy
from interlink.flows.runs import FlowRuns
from interlink.gateway import compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.store import Store, open_store
from interlink.store.keyring import KeyRing
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import FAST, GatewayThread

ESTATE = """apiVersion: interlink/v1
kind: Platform
metadata: {{name: test}}
spec: {{}}
---
apiVersion: interlink/v1
kind: Team
metadata: {{name: team}}
spec: {{}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: slow-crm, owner: team}}
spec:
  domain: sales
  baseUrl: {base}
  credentials: {{scheme: header, name: x-echo-delay, value: "${{env:FLOW_ROUTE_DELAY}}"}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: gone, owner: team}}
spec: {{domain: sales, baseUrl: "http://127.0.0.1:9"}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: quote, owner: team}}
spec:
  trigger: {{manual: true}}
  inputSchema:
    type: object
    required: [sku, qty]
    properties: {{sku: {{type: string}}, qty: {{type: integer, minimum: 0}}}}
  steps:
    - {{name: only-some, type: filter, condition: 'qty > 0'}}
    - {{name: price, type: map, expression: '{{"sku": sku, "total": qty * 2.5}}'}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: slow, owner: team}}
spec:
  trigger: {{manual: true}}
  steps:
    - {{name: wait, type: call, system: slow-crm, path: /wait}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: broken, owner: team}}
spec:
  trigger: {{manual: true}}
  steps:
    - {{name: send, type: call, system: gone, path: /orders}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: once, owner: team}}
spec:
  trigger: {{manual: true}}
  steps:
    - {{name: once, type: idempotency, key: id}}
    - {{name: later, type: wait, for: 1h}}
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: once, owner: team}}
spec: {{match: {{path: /once, methods: [POST]}}, flow: once}}
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: quotes, owner: team}}
spec: {{match: {{path: /quotes, methods: [POST]}}, flow: quote}}
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: slow, owner: team}}
spec: {{match: {{path: /slow, methods: [POST]}}, flow: slow, flowTimeout: 100ms}}
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: broken, owner: team}}
spec: {{match: {{path: /broken, methods: [POST]}}, flow: broken}}
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: private-quotes, owner: team}}
spec:
  match: {{path: /private/quotes, methods: [POST]}}
  flow: quote
  auth: {{methods: [{{type: apiKey}}]}}
"""


@dataclass
class Served:
    client: httpx.Client
    runs: FlowRuns


@pytest.fixture
def served(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("FLOW_ROUTE_DELAY", "0.5")
    with UpstreamThread() as upstream, open_store(store_url) as store:
        store.migrate()
        root = tmp_path / "estate"
        root.mkdir()
        (root / "estate.yaml").write_text(ESTATE.format(base=upstream.url), encoding="utf-8")
        result = check_estate(root)
        errors = [f.render() for f in result.findings if f.severity == "error"]
        assert not errors, errors
        engine = flow_engine(result.estate, store)
        services = GatewayServices(flows=engine, keyring=KeyRing(store), store=store)
        config = compile_gateway(result.estate, FAST, services)
        assert not config.unserved, config.unserved_line()
        gateway = GatewayThread(config).start()
        try:
            with httpx.Client(base_url=gateway.url) as client:
                yield Served(client, engine.runs)
        finally:
            gateway.stop()


def flow_engine(estate: Any, store: Store) -> FlowEngine:
    def spec(name: str) -> FlowSpec:
        found = estate.get("Flow", name)
        assert found is not None
        assert isinstance(found.obj, Flow)
        return found.obj.spec

    retry = RetryPolicy(attempts=1)
    return FlowEngine(FlowRuns(store.db), spec, system_targets(estate), retry=retry)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def test_a_run_that_completes_answers_its_result(served: Served) -> None:
    response = served.client.post("/quotes", json={"sku": "a-1", "qty": 4})
    assert response.status_code == 200, response.text
    assert response.json() == {"sku": "a-1", "total": 10.0}
    run = served.runs.get(response.headers["interlink-flow-run"])
    assert (run.flow, run.trigger, run.status) == ("quote", "http", "completed")
    assert run.input == {"sku": "a-1", "qty": 4}


def test_filtered_input_is_422_and_a_failed_call_502(served: Served) -> None:
    body = problem(served.client.post("/quotes", json={"sku": "a-1", "qty": 0}), 422)
    assert served.runs.get(body["run"]).status == "filtered"
    body = problem(served.client.post("/broken", json={"id": 1}), 502)
    assert body["detail"].startswith(f"Flow/broken run {body['run']} failed: step send failed")
    assert served.runs.get(body["run"]).status == "failed"


def test_a_run_longer_than_the_timeout_is_202_with_where_to_follow_it(served: Served) -> None:
    response = served.client.post("/slow", json={"id": 1})
    assert response.status_code == 202, response.text
    run_id = response.headers["interlink-flow-run"]
    assert response.json() == {"run": run_id, "status": f"/api/v1/flows/runs/{run_id}"}
    assert response.headers["location"] == f"/api/v1/flows/runs/{run_id}"
    assert served.runs.get(run_id).status == "running"


def test_a_waiting_run_is_202_and_the_same_input_again_409(served: Served) -> None:
    response = served.client.post("/once", json={"id": "o-1"})
    assert response.status_code == 202, response.text
    assert served.runs.get(response.headers["interlink-flow-run"]).status == "waiting"
    body = problem(served.client.post("/once", json={"id": "o-1"}), 409)
    assert body["detail"].startswith("Flow/once handled this input already")
    assert served.runs.get(body["run"]).status == "duplicate"


def test_bad_bodies_start_no_run(served: Served) -> None:
    problem(served.client.post("/quotes", content=b"{nope", headers=JSON), 400)
    problem(served.client.post("/quotes", content=b"qty=1"), 415)
    body = problem(served.client.post("/quotes", json={"sku": 7, "qty": -1}), 422)
    assert body["title"] == "Invalid flow input"
    assert body["detail"].endswith("(and 1 more)")
    assert {v["pointer"] for v in body["violations"]} == {"/sku", "/qty"}
    assert "7" not in json.dumps(body["violations"])  # the rule, never the value
    assert served.runs.latest("quote") == []


def test_the_route_s_policies_come_first(served: Served) -> None:
    problem(served.client.post("/private/quotes", json={"sku": "a-1", "qty": 4}), 401)
    assert served.runs.latest("quote") == []


JSON = {"content-type": "application/json"}
