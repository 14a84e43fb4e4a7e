"""A flow route through `interlink serve --workers 2`: the worker that takes a request runs the
flow it starts, recorded in the one store."""

from __future__ import annotations

from pathlib import Path

import httpx

from interlink.flows.runs import FlowRuns
from interlink.store import open_store
from interlink.testing.processes import InterlinkProcess, free_port

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
kind: Flow
metadata: {name: quote, owner: shop}
spec:
  trigger: {manual: true}
  steps:
    - {name: keep-some, type: filter, condition: 'qty > 0'}
    - {name: price, type: map, expression: '{"sku": sku, "total": qty * 2.5}'}
---
apiVersion: interlink/v1
kind: Route
metadata: {name: quotes, owner: shop}
spec:
  match: {path: /api/quotes, methods: [POST]}
  flow: quote
"""


def test_workers_start_and_answer_flow_runs(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    root.mkdir()
    (root / "estate.yaml").write_text(ESTATE, encoding="utf-8")
    admin = f"127.0.0.1:{free_port()}"
    proc = InterlinkProcess(["serve", str(root), "--admin-listen", admin, "--workers", "2"]).start()
    try:
        gateway = "http://" + proc.wait_for(r"gateway on http://(\S+)").group(1)
        with httpx.Client(base_url=gateway) as client:
            answers = [
                client.post("/api/quotes", json={"sku": f"s-{n}", "qty": n}) for n in range(8)
            ]
    finally:
        assert proc.stop() == 0, proc.output
    assert answers[0].status_code == 422, answers[0].text
    for n, answer in enumerate(answers[1:], start=1):
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"sku": f"s-{n}", "total": n * 2.5}
    with open_store(f"sqlite:///{root / '.interlink' / 'interlink.db'}") as store:
        runs = FlowRuns(store.db).latest("quote")
    assert sorted(r.status for r in runs) == ["completed"] * 7 + ["filtered"]
    assert {r.trigger for r in runs} == {"http"}
    ids = {a.headers["interlink-flow-run"] for a in answers}
    assert ids == {r.id for r in runs}
