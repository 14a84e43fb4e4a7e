"""`interlink flows run|runs|show` through the real entry point, on both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.estate.kinds.flow import Flow
from interlink.estate.loader import load_estate
from interlink.flows.definition import pin
from interlink.flows.runs import FlowRuns
from interlink.store import open_store
from interlink.testing.processes import run_interlink
from interlink.testing.upstreams import UpstreamThread
from tests.integration.flows.test_engine import SAGA, requests_to, write_estate


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as server:
        yield server


@pytest.fixture
def env(store_url: str) -> dict[str, str]:
    return {"FLOWS_TEST_KEY": "k-123", "FLOWS_TEST_STORE": store_url}


def test_a_flow_run_by_hand_is_listed_and_shown(
    tmp_path: Path, upstream: UpstreamThread, env: dict[str, str]
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    ran = run_interlink(
        ["flows", "run", "onboard", "--input", "-"], cwd=root, env=env, input='{"name": "Ada"}'
    )
    assert ran.returncode == 0, ran.stderr
    run_id, status = ran.stdout.splitlines()
    assert status == "completed"

    listed = run_interlink(["flows", "runs", "onboard"], cwd=root, env=env)
    (line,) = listed.stdout.splitlines()
    assert line.startswith(f"{run_id}  onboard  completed  ")

    shown = run_interlink(["flows", "show", run_id, "--estate", str(root)], env=env)
    document = json.loads(shown.stdout)
    assert document["status"] == "completed"
    assert document["message"] == {"name": "Ada", "tier": "gold", "notified": True}
    assert [s["name"] for s in document["steps"]] == [
        "shape",
        "only-named",
        "create",
        "notify",
        "done",
    ]
    assert document["steps"][2]["output"]["headers"]["idempotency-key"] == f"{run_id}:create"


def test_a_failed_run_exits_1_with_its_error(
    tmp_path: Path, upstream: UpstreamThread, env: dict[str, str]
) -> None:
    root = write_estate(
        tmp_path / "estate", upstream.url, SAGA.replace("/notify", "/notify/{missing}")
    )
    ran = run_interlink(
        ["flows", "run", "onboard", "--input", "-"], cwd=root, env=env, input='{"name": "Ada"}'
    )
    assert ran.returncode == 1
    _, status = ran.stdout.splitlines()
    assert status.startswith("compensated: step notify failed: the path /notify/{missing} needs")
    assert "step notify failed" not in ran.stderr  # said once, on stdout, not logged again too


def on_stores(before: list[Any], after: list[Any]) -> list[Any]:
    """Parameters with the store: cases refused ``before`` the store is opened go through the
    same code on each, so they run on SQLite alone; those refused ``after`` a look in it run on
    each store."""
    postgres = pytest.mark.postgres
    return [pytest.param("sqlite", *case) for case in before + after] + [
        pytest.param("postgres", *case, marks=postgres) for case in after
    ]


@pytest.mark.parametrize(
    ("store_url", "args", "stdin", "message"),
    on_stores(
        [
            (["run", "onbaord"], "", "no Flow 'onbaord' in the estate (did you mean 'onboard'?)"),
            (["run", "onboard", "--input", "-"], "{nope", "the input - is not JSON: "),
            (["run", "onboard", "--input", "missing.json"], "", "cannot read the input missing"),
            (["run", "once"], "", "not once (enrich from a dataProduct)"),
        ],
        [
            (["show", "no-such-run"], "", "no flow run 'no-such-run'"),
            (["runs", "onbaord"], "", "no Flow 'onbaord' in the estate, and no runs of it (did"),
        ],
    ),
    indirect=["store_url"],
)
def test_bad_input_is_one_readable_line(
    tmp_path: Path,
    upstream: UpstreamThread,
    env: dict[str, str],
    args: list[str],
    stdin: str,
    message: str,
) -> None:
    once = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: once, owner: ops}
spec:
  steps:
    - {name: once, type: enrich, from: {dataProduct: people}, into: person}
    - {name: shape, type: map, expression: name}
"""
    root = write_estate(tmp_path / "estate", upstream.url, SAGA + once)
    result = run_interlink(["flows", *args], cwd=root, env=env, input=stdin)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("interlink: ")
    assert message in line
    assert upstream.requests == []


def test_resume_finishes_a_run_whose_engine_is_gone(
    tmp_path: Path, upstream: UpstreamThread, env: dict[str, str], store_url: str
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    estate, _ = load_estate(root)
    flow = estate.get("Flow", "onboard")
    assert flow is not None
    assert isinstance(flow.obj, Flow)
    definition, revision = pin(flow.obj.spec)
    with open_store(store_url) as store:
        store.migrate()
        # Recorded by an engine that died at once: its lease ends as it is taken.
        run = FlowRuns(store.db).create(
            "onboard", revision, definition, "manual", {"name": "Ada"}, "gone", 0
        )
    resumed = run_interlink(["flows", "resume"], cwd=root, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines() == [f"{run.id}  onboard  completed"]
    assert len(requests_to(upstream, "/customers")) == 1
    again = run_interlink(["flows", "resume"], cwd=root, env=env)
    assert again.stdout == ""


def test_flows_are_listed_and_failed_runs_retried_and_cancelled_on_the_store(
    tmp_path: Path, upstream: UpstreamThread, env: dict[str, str]
) -> None:
    wait = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: remind, owner: ops}
spec:
  trigger: {schedule: "0 9 * * *", timezone: Europe/Berlin}
  steps:
    - {name: pause, type: wait, for: 1h}
"""
    root = write_estate(tmp_path / "estate", upstream.url, SAGA + wait)
    upstream.fail_next(2, 400)  # two runs fail at their first call, with nothing to undo
    failed = []
    for name in ("Ada", "Bo"):
        ran = run_interlink(
            ["flows", "run", "onboard", "--input", "-"],
            cwd=root,
            env=env,
            input=f'{{"name": "{name}"}}',
        )
        assert ran.returncode == 1
        failed.append(ran.stdout.splitlines()[0])
    listed = run_interlink(["flows", "list"], cwd=root, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [line.split() for line in listed.stdout.splitlines()] == [
        ["FLOW", "OWNER", "TRIGGERS", "STEPS", "RUNS"],
        ["onboard", "ops", "manual", "5", "failed", "2"],
        ["remind", "ops", "schedule", "0", "9", "*", "*", "*", "(Europe/Berlin)", "1", "0"],
    ]
    dead = run_interlink(["flows", "runs", "--status", "failed"], cwd=root, env=env)
    assert sorted(line.split("  ")[0] for line in dead.stdout.splitlines()) == sorted(failed)
    assert "step create failed: POST /customers answered 400" in dead.stdout

    one = run_interlink(["flows", "retry", failed[0]], cwd=root, env=env)
    assert one.returncode == 0, one.stderr
    assert one.stdout.strip() == f"{failed[0]}  completed"
    twice = run_interlink(["flows", "retry", failed[0]], cwd=root, env=env)
    assert twice.returncode == 2
    assert "is completed: only a failed or compensated run retries" in twice.stderr

    bulk = run_interlink(
        ["flows", "retry", "--flow", "onboard", "--since", "1h", "--yes"], cwd=root, env=env
    )
    assert bulk.returncode == 0, bulk.stderr
    assert bulk.stdout.splitlines() == ["retried 1/1", "retried 1 run(s): 1 completed"]
    assert len(requests_to(upstream, "/notify")) == 2

    waiting = run_interlink(["flows", "run", "remind"], cwd=root, env=env)
    run_id, status = waiting.stdout.splitlines()
    assert status == "waiting"
    cancelled = run_interlink(["flows", "cancel", run_id], cwd=root, env=env)
    assert cancelled.stdout.strip() == f"{run_id}  cancelled"


@pytest.mark.parametrize(
    ("store_url", "args", "message"),
    on_stores(
        [
            (["retry"], "give a RUN_ID, or --flow NAME or --all-failed, one of them"),
            (["retry", "x", "--flow", "onboard"], "give a RUN_ID, or --flow NAME or --all-failed"),
            (["retry", "x", "--since", "1h"], "--status and --since pick runs with --flow"),
            (["retry", "--flow", "onboard", "--since", "soon"], "--since 'soon': give a duration"),
            (["retry", "--all-failed", "--status", "compensated"], "--all-failed retries failed"),
        ],
        [
            (["cancel", "nope"], "no flow run 'nope'"),
            (["retry", "--flow", "onbord", "--yes"], "no runs of it (did you mean 'onboard'?)"),
        ],
    ),
    indirect=["store_url"],
)
def test_bad_retries_are_one_readable_line(
    tmp_path: Path, upstream: UpstreamThread, env: dict[str, str], args: list[str], message: str
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    result = run_interlink(["flows", *args], cwd=root, env=env)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert message in line
