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
from interlink.flows.payloads import is_ref, limits_of
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
spec: {{flows: {{inlinePayloadBytes: 1024, maxPayloadBytes: 65536}}}}
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
kind: System
metadata: {{name: html-crm, owner: team}}
spec: {{domain: sales, baseUrl: {html}}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: failing-crm, owner: team}}
spec:
  domain: sales
  baseUrl: {base}
  credentials: {{scheme: header, name: x-echo-status, value: "${{env:FLOW_ROUTE_STATUS}}"}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: huge-crm, owner: team}}
spec:
  domain: sales
  baseUrl: {base}
  credentials: {{scheme: header, name: x-echo-stream, value: "${{env:FLOW_ROUTE_STREAM}}"}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: html, owner: team}}
spec:
  steps: [{{name: fetch, type: call, system: html-crm, path: /page}}]
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: jsonata, owner: team}}
spec:
  steps: [{{name: add, type: map, expression: 'sku + 1'}}]
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: status, owner: team}}
spec:
  steps: [{{name: send, type: call, system: failing-crm, path: /orders}}]
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: timed, owner: team}}
spec:
  steps: [{{name: wait, type: call, system: slow-crm, path: /wait, timeout: 100ms}}]
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: huge, owner: team}}
spec:
  steps: [{{name: fetch, type: call, system: huge-crm, path: /all}}]
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: echo, owner: team}}
spec:
  steps: [{{name: same, type: map, expression: '$'}}]
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: echo, owner: team}}
spec: {{match: {{path: /echo, methods: [POST]}}, flow: echo}}
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: errors, owner: team}}
spec: {{match: {{path: /html, methods: [POST]}}, flow: html}}
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: jsonata, owner: team}}
spec: {{match: {{path: /jsonata, methods: [POST]}}, flow: jsonata}}
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: status, owner: team}}
spec: {{match: {{path: /status, methods: [POST]}}, flow: status}}
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: timed, owner: team}}
spec: {{match: {{path: /timed, methods: [POST]}}, flow: timed}}
---
apiVersion: interlink/v1
kind: Route
metadata: {{name: huge, owner: team}}
spec: {{match: {{path: /huge, methods: [POST]}}, flow: huge}}
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
    monkeypatch.setenv("FLOW_ROUTE_STATUS", "500")
    monkeypatch.setenv("FLOW_ROUTE_STREAM", "200000")
    with (
        UpstreamThread() as upstream,
        UpstreamThread(fixed_body=b"<html>busy</html>") as html,
        open_store(store_url) as store,
    ):
        store.migrate()
        root = tmp_path / "estate"
        root.mkdir()
        text = ESTATE.format(base=upstream.url, html=html.url)
        (root / "estate.yaml").write_text(text, encoding="utf-8")
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
    runs = FlowRuns(store.db, lambda: limits_of(estate))
    return FlowEngine(runs, spec, system_targets(estate), retry=retry)


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


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/html", "step fetch failed: POST /page answered 200 with a body that is not JSON"),
        (
            "/jsonata",
            "step add failed: JSONata T2001: The left side of the + operator must evaluate to a "
            "number in 'sku + 1'",
        ),
        ("/status", "step send failed: POST /orders answered 500"),
        ("/timed", "step wait failed: the attempt took longer than its timeout of 0.1 s"),
        (
            "/huge",
            "step fetch failed: POST /all answered more than 64 KiB, the limit of a step's output",
        ),
    ],
)
def test_each_kind_of_step_failure_is_a_502_naming_it_and_recorded_on_the_step(
    served: Served, path: str, said: str
) -> None:
    body = problem(served.client.post(path, json={"sku": "a-1"}), 502)
    assert body["detail"] == f"Flow/{path[1:]} run {body['run']} failed: {said}"
    run = served.runs.get(body["run"])
    assert (run.status, run.error) == ("failed", said)
    (step,) = served.runs.steps(run.id)
    assert (step.status, step.error) == ("failed", said.split(" failed: ", 1)[1])


def test_a_large_input_runs_by_reference_and_one_over_the_limit_is_413(served: Served) -> None:
    data = {"sku": "a-1", "note": "n" * 20_000}
    response = served.client.post("/echo", json=data)
    assert response.status_code == 200, response.text
    assert response.json() == data  # the final message, loaded back whole
    run = served.runs.get(response.headers["interlink-flow-run"])
    assert is_ref(run.input)
    assert is_ref(served.runs.steps(run.id)[0].output)

    body = problem(served.client.post("/echo", json={"note": "n" * 70_000}), 413)
    assert body["detail"] == "the input is 68.4 KiB, over the 64 KiB limit"
    assert [r.id for r in served.runs.latest("echo")] == [run.id]


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
