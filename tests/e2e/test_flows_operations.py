"""Operating flows on a running node: the flows listed, runs retried in bulk and cancelled
through the CLI and the admin API, and the step metrics moving with real runs."""

from __future__ import annotations

import re
from pathlib import Path

from interlink.testing.processes import run_interlink
from interlink.testing.upstreams import UpstreamThread
from tests.e2e.test_flows_api import call, status_of, token
from tests.e2e.test_flows_serve import ESTATE, root, upstream, wait_until  # noqa: F401 - fixtures
from tests.integration.test_serve import Served, start

LATER = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: later, owner: shop}
spec:
  trigger: {manual: true}
  timeout: 2h
  steps:
    - {name: pause, type: wait, for: 1h}
"""


def metric(served: Served, name: str, labels: str) -> float:
    text = call(served, "GET", "/metrics").text
    found = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_runs_are_listed_retried_in_bulk_cancelled_and_counted_per_step(
    root: Path,  # noqa: F811 - the fixture
    upstream: UpstreamThread,  # noqa: F811 - the fixture
) -> None:
    (root / "later.yaml").write_text(LATER)
    served = start(root)
    try:
        viewer, operator = token(served, "viewer"), token(served, "operator")
        node = ["--admin", served.base, "--token", operator]
        # Three runs fail at their call (a 400 is not retried); a fourth succeeds on its
        # second attempt (a 503 is).
        upstream.fail_next(3, 400)
        failed = []
        for order in ("O1", "O2", "O3"):
            started = call(
                served, "POST", "/api/v1/flows/reserve/runs", operator, json={"orderId": order}
            ).json()
            failed.append(started["id"])
            wait_until(lambda: status_of(served, failed[-1]) == "failed")
        upstream.fail_next(1, 503)
        flaky = call(served, "POST", "/api/v1/flows/reserve/runs", operator, json={"orderId": "O4"})
        wait_until(lambda: status_of(served, flaky.json()["id"]) == "completed")

        step = 'flow="reserve",step="reserve"'
        assert metric(served, "interlink_flow_steps_started_total", step) == 4
        assert metric(served, "interlink_flow_step_retries_total", step) == 1
        ended = "interlink_flow_steps_ended_total"
        assert metric(served, ended, step + ',status="failed"') == 3
        assert metric(served, ended, step + ',status="completed"') == 1
        assert metric(served, ended, 'flow="reserve",step="done",status="completed"') == 1
        assert metric(served, "interlink_flow_step_duration_seconds_count", step) == 5
        assert metric(served, "interlink_flow_runs_in_flight", 'flow="reserve"') == 0

        waiting = call(served, "POST", "/api/v1/flows/later/runs", operator).json()
        wait_until(lambda: status_of(served, waiting["id"]) == "waiting")
        shown = call(served, "GET", waiting["href"], viewer).json()
        assert shown["deadline"] is not None  # the flow's 2 h, from the start
        wait_until(lambda: metric(served, "interlink_flow_runs_waiting", 'flow="later"') == 1)
        assert metric(served, "interlink_flow_runs_waiting", 'flow="reserve"') == 0
        pause = 'flow="later",step="pause"'
        assert metric(served, "interlink_flow_steps_started_total", pause) == 1
        assert metric(served, ended, pause + ',status="completed"') == 0  # not yet: waiting

        listed = run_interlink(["flows", "list", *node])
        assert listed.returncode == 0, listed.stderr
        header, later, reserve, tally = listed.stdout.splitlines()
        assert header.split() == ["FLOW", "OWNER", "TRIGGERS", "STEPS", "RUNS"]
        assert later.split() == ["later", "shop", "manual", "1", "waiting", "1"]
        assert reserve.split() == [
            "reserve",
            "shop",
            "subscription/reserve-orders",
            "2",
            "completed",
            "1,",
            "failed",
            "3",
        ]
        assert tally.split() == ["tally", "shop", "subscription/flow-tally", "1", "0"]
        dead = run_interlink(["flows", "runs", "--status", "failed", *node])
        assert sorted(line.split("  ")[0] for line in dead.stdout.splitlines()) == sorted(failed)
        assert all("answered 400" in line for line in dead.stdout.splitlines())

        # Bulk retry: refused without --yes off a terminal, then done a batch at a time.
        unsure = run_interlink(["flows", "retry", "--flow", "reserve", *node])
        assert unsure.returncode != 0
        assert unsure.stderr.strip().endswith(
            "retrying 3 failed run(s) of Flow/reserve needs --yes when not asked on a terminal"
        )
        bulk = run_interlink(["flows", "retry", "--flow", "reserve", "--yes", *node])
        assert bulk.returncode == 0, bulk.stderr
        assert bulk.stdout.splitlines() == [
            "retried 3/3",
            "retried 3 run(s) on the node (`flows runs --status failed`: any failed again)",
        ]
        wait_until(lambda: all(status_of(served, run_id) == "completed" for run_id in failed))
        assert metric(served, ended, step + ',status="completed"') == 4
        nothing = run_interlink(["flows", "retry", "--all-failed", "--yes", *node])
        assert nothing.stdout.strip() == "no failed runs to retry"

        # The endpoint itself: counted, bounded, and an operator's.
        body = {"flow": "reserve", "status": ["failed", "compensated"], "dry_run": True}
        counted = call(served, "POST", "/api/v1/flows/runs/retry", operator, json=body)
        assert counted.status_code == 200, counted.text
        assert (counted.json()["remaining"], counted.json()["retried"]) == (0, [])
        refused = call(served, "POST", "/api/v1/flows/runs/retry", viewer, json=body)
        assert refused.status_code == 403
        bad = call(served, "POST", "/api/v1/flows/runs/retry", operator, json={"status": ["x"]})
        assert bad.status_code == 422

        cancelled = run_interlink(["flows", "cancel", waiting["id"], *node])
        assert cancelled.stdout.strip() == f"{waiting['id']}  cancelled"
        again = run_interlink(["flows", "cancel", waiting["id"], *node])
        assert again.returncode != 0
        assert "is cancelled: only a running or waiting run cancels" in again.stderr
        wait_until(lambda: metric(served, "interlink_flow_runs_waiting", 'flow="later"') == 0)
    finally:
        served.proc.stop()
