"""The flows admin API on a running node: start, list, show, retry, cancel, and role checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from interlink.testing.processes import run_interlink
from interlink.testing.upstreams import UpstreamThread
from tests.e2e.test_flows_serve import root, upstream, wait_until  # noqa: F401 - fixtures
from tests.integration.test_serve import Served, start


def call(served: Served, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {token or served.token}"}
    return httpx.request(method, served.base + path, headers=headers, timeout=10, **kw)


def token(served: Served, role: str) -> str:
    made = call(served, "POST", "/api/v1/tokens", json={"role": role, "name": role})
    assert made.status_code in (200, 201), made.text
    value: str = made.json()["token"]
    return value


def status_of(served: Served, run_id: str) -> str:
    found: str = call(served, "GET", f"/api/v1/flows/runs/{run_id}").json()["status"]
    return found


def test_runs_are_started_listed_shown_retried_and_cancelled(
    root: Path,  # noqa: F811 - the fixture
    upstream: UpstreamThread,  # noqa: F811 - the fixture
) -> None:
    served = start(root)
    try:
        viewer, operator = token(served, "viewer"), token(served, "operator")
        refused = call(served, "POST", "/api/v1/flows/reserve/runs", operator, json={"id": 1})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["violations"] == [
            {"pointer": "", "message": "missing required property 'orderId'"}
        ]
        # A 400 is not retried: the run fails at its call, with nothing to undo.
        upstream.fail_next(1, 400)
        started = call(
            served, "POST", "/api/v1/flows/reserve/runs", operator, json={"orderId": "O1"}
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        assert started.headers["location"] == f"/api/v1/flows/runs/{run_id}"
        wait_until(lambda: status_of(served, run_id) == "failed")
        shown = call(served, "GET", started.headers["location"], viewer).json()
        assert shown["trigger"] == "api"
        assert shown["input"] == {"orderId": "O1"}
        ((step),) = shown["steps"]
        assert (step["name"], step["status"], step["attempts"]) == ("reserve", "failed", 1)
        assert "400" in step["error"]

        retried = call(served, "POST", f"/api/v1/flows/runs/{run_id}/retry", operator)
        assert retried.status_code == 202, retried.text
        wait_until(lambda: status_of(served, run_id) == "completed")
        steps = call(served, "GET", f"/api/v1/flows/runs/{run_id}").json()["steps"]
        assert [(s["name"], s["status"], s["attempts"]) for s in steps] == [
            ("reserve", "completed", 1),
            ("done", "completed", 1),
        ]
        again = call(served, "POST", f"/api/v1/flows/runs/{run_id}/retry", operator)
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"

        upstream.hold("/reserve/O2")
        held = call(served, "POST", "/api/v1/flows/reserve/runs", operator, json={"orderId": "O2"})
        held_id = held.json()["id"]
        wait_until(lambda: any(r["path"] == "/reserve/O2" for r in upstream.requests))
        cancelled = call(served, "POST", f"/api/v1/flows/runs/{held_id}/cancel", operator)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        upstream.release("/reserve/O2")
        late = call(served, "POST", f"/api/v1/flows/runs/{held_id}/cancel", operator)
        assert late.status_code == 409

        flows = call(served, "GET", "/api/v1/flows", viewer).json()
        assert flows[0]["name"] == "reserve"
        assert flows[0]["runs"] == {"completed": 1, "cancelled": 1}
        first = call(served, "GET", "/api/v1/flows/runs", viewer, params={"limit": 1}).json()
        assert len(first["items"]) == 1
        rest = call(
            served, "GET", "/api/v1/flows/runs", viewer, params={"cursor": first["next_cursor"]}
        ).json()
        assert {r["id"] for r in first["items"] + rest["items"]} == {run_id, held_id}
        assert rest["next_cursor"] is None
        done = call(
            served, "GET", "/api/v1/flows/runs", params={"flow": "reserve", "status": "completed"}
        ).json()
        assert [r["id"] for r in done["items"]] == [run_id]

        # Roles: a viewer reads, only an operator acts; every refusal is a problem document.
        for method, path in [
            ("POST", "/api/v1/flows/reserve/runs"),
            ("POST", f"/api/v1/flows/runs/{run_id}/retry"),
            ("POST", f"/api/v1/flows/runs/{run_id}/cancel"),
        ]:
            assert call(served, method, path, viewer).status_code == 403
        assert httpx.get(served.base + "/api/v1/flows", timeout=10).status_code == 401
        missing = call(served, "POST", "/api/v1/flows/reserv/runs", operator, json={})
        assert missing.status_code == 404
        assert "did you mean 'reserve'" in missing.json()["detail"]
        assert call(served, "GET", "/api/v1/flows/runs/nope").status_code == 404
        bad = call(served, "POST", "/api/v1/flows/reserve/runs", operator, content=b"{nope")
        assert bad.status_code == 400
        assert bad.json()["title"] == "Bad request"  # the body, not the estate, is at fault
        cursor = call(served, "GET", "/api/v1/flows/runs", params={"cursor": "zz"})
        assert cursor.status_code == 400
        assert call(served, "GET", "/api/v1/flows/runs", params={"status": "x"}).status_code == 422
        # The CLI against the node: a run started there, listed and shown.
        node = ["--admin", served.base, "--token", operator]
        ran = run_interlink(
            ["flows", "run", "reserve", "--input", "-", *node], input='{"orderId": "O3"}'
        )
        assert ran.returncode == 0, ran.stderr
        cli_id, ended = ran.stdout.splitlines()
        assert ended == "completed"
        listed = run_interlink(["flows", "runs", "reserve", "--limit", "1", *node])
        assert listed.stdout.startswith(f"{cli_id}  reserve  completed  ")
        typo = run_interlink(["flows", "runs", "reserv", *node])
        assert typo.returncode == 2
        assert "no runs of it (did you mean 'reserve'?)" in typo.stderr
        shown = run_interlink(["flows", "show", cli_id, *node])
        assert json.loads(shown.stdout)["message"] == {"reserved": "/reserve/O3"}
        refused = run_interlink(["flows", "runs", "--admin", served.base, "--token", "nope"])
        assert refused.returncode != 0
        assert len(refused.stderr.strip().splitlines()) == 1
        # Each start, retry and cancel is in the audit log, refusals and conflicts included.
        audit = call(served, "GET", "/api/v1/audit", params={"limit": 1000}).json()["entries"]
        acted = [
            (e["action"], e["target"], e["result"], e["who"]["name"])
            for e in audit
            if e["action"].startswith("flow.")
        ]
        assert acted[:6] == [
            ("flow.run", "flow/reserve", "failed", "operator"),  # the input's schema: 422
            ("flow.run", "flow/reserve", "ok", "operator"),
            ("flow.retry", f"run/{run_id}", "ok", "operator"),
            ("flow.retry", f"run/{run_id}", "failed", "operator"),  # 409: completed
            ("flow.run", "flow/reserve", "ok", "operator"),
            ("flow.cancel", f"run/{held_id}", "ok", "operator"),
        ]
        assert [a[2] for a in acted[7:10]] == ["refused"] * 3
        assert acted[-1] == ("flow.run", "flow/reserve", "ok", "operator")  # from the CLI
        assert audit[-1]["details"] == {"run": cli_id}
        assert call(served, "GET", "/api/v1/audit/verify").json()["ok"] is True
        metrics = call(served, "GET", "/metrics").text
        assert 'interlink_flow_runs_ended_total{flow="reserve",status="completed"} 2' in metrics
        assert 'interlink_flow_runs_ended_total{flow="reserve",status="failed"} 1' in metrics
    finally:
        served.proc.stop()
