"""`interlink flows run|resume|runs|show`: flows run by hand against the estate's store, or,
with ``--admin URL --token T``, on a running node through its admin API; `interlink flows
test`: the flow test files' cases, on the engine with mocks, no store nor server needed."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from interlink.cli.admin import estate_option, no_estate, open_estate_store
from interlink.cli.events import _Api
from interlink.errors import ConfigError, NotFound
from interlink.estate.flow_tests import FlowTestFile, flow_test_files, read_test_file
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate
from interlink.flows.calls import api_targets, system_targets
from interlink.flows.data import ConnectorTransport, system_lookup
from interlink.flows.engine import FlowEngine
from interlink.flows.harness import CaseResult, run_files
from interlink.flows.runs import FlowRun, FlowRuns


@click.group("flows")
def flows_group() -> None:
    """Flows of the estate: run one by hand, list runs, show one, run their tests."""


def _estate(estate_dir: Path) -> Estate:
    estate, _ = load_estate(estate_dir)
    if not estate.objects:
        raise no_estate(estate_dir)
    return estate


def _flows(estate: Estate) -> Any:
    def spec(name: str) -> FlowSpec:
        item = estate.get("Flow", name)
        if item is None or not isinstance(item.obj, Flow):
            hint = did_you_mean(name, estate.names("Flow"))
            raise NotFound(f"no Flow {name!r} in the estate" + (f" ({hint})" if hint else ""))
        return item.obj.spec

    return spec


def _input(source: str | None) -> Any:
    if source is None:
        return {}
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the input {source}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"the input {source} is not JSON: {exc}") from None


_admin = click.option(
    "--admin",
    "admin_url",
    help="Admin API of a running node: work there instead of on the estate's store.",
)
_token = click.option(
    "--token", envvar="INTERLINK_TOKEN", help="Admin token, with --admin (or INTERLINK_TOKEN)."
)
#: Seconds between two looks at a run started on a node, until it ends.
POLL = 0.2


def _api(admin_url: str, token: str | None) -> _Api:
    if not token:
        raise ConfigError("--admin needs a token: --token or INTERLINK_TOKEN")
    return _Api(admin_url, token)


def _run_remote(api: _Api, name: str, data: Any) -> dict[str, Any]:
    started = api.call("POST", f"/api/v1/flows/{name}/runs", json=data)
    click.echo(started["id"])
    while True:
        run: dict[str, Any] = api.call("GET", started["href"])
        if run["status"] not in ("running", "compensating"):
            return run
        time.sleep(POLL)


def _engine(estate: Estate, runs: FlowRuns) -> FlowEngine:
    return FlowEngine(
        runs,
        _flows(estate),
        system_targets(estate),
        apis=api_targets(estate),
        data=ConnectorTransport(system_lookup(estate)),
    )


@flows_group.command("run")
@click.argument("name")
@click.option("--input", "source", help="JSON input: a file, or - for stdin (default {}).")
@estate_option
@_admin
@_token
def run_command(
    name: str, source: str | None, estate_dir: Path, admin_url: str | None, token: str | None
) -> None:
    """Run flow NAME once, now; print the run id and how it ended."""
    if admin_url is not None:
        remote = _run_remote(_api(admin_url, token), name, _input(source))
        error = remote.get("error")
        click.echo(f"{remote['status']}" + (f": {error}" if error else ""))
        if remote["status"] not in ("completed", "filtered", "duplicate"):  # waiting: 1
            sys.exit(1)
        return
    estate = _estate(estate_dir)
    _flows(estate)(name)
    data = _input(source)
    store = open_estate_store(estate_dir, None)
    try:
        engine = _engine(estate, FlowRuns(store.db))

        async def go() -> FlowRun:
            try:
                run_id = await engine.start(name, data)
                click.echo(run_id)
                return await engine.run(run_id)
            finally:
                await engine.aclose()

        run = asyncio.run(go())
    finally:
        store.close()
    click.echo(f"{run.status}" + (f": {run.error}" if run.error else ""))
    if run.status not in ("completed", "filtered", "duplicate"):  # waiting exits 1 too
        sys.exit(1)


@flows_group.command("resume")
@estate_option
def resume_command(estate_dir: Path) -> None:
    """Resume the runs left unfinished by a process that stopped; print how each ended."""
    estate = _estate(estate_dir)
    store = open_estate_store(estate_dir, None)
    engine = _engine(estate, FlowRuns(store.db))

    async def go() -> list[FlowRun]:
        try:
            return await engine.recover()
        finally:
            await engine.aclose()

    try:
        runs = asyncio.run(go())
    finally:
        store.close()
    for run in runs:
        click.echo(f"{run.id}  {run.flow}  {run.status}")


@flows_group.command("runs")
@click.argument("name", required=False)
@click.option("--limit", default=50, show_default=True, help="At most this many, latest first.")
@estate_option
@_admin
@_token
def runs_command(
    name: str | None, limit: int, estate_dir: Path, admin_url: str | None, token: str | None
) -> None:
    """List the latest runs, of flow NAME or of all."""
    if admin_url is not None:
        params: dict[str, Any] = {"limit": limit, **({"flow": name} if name else {})}
        page = _api(admin_url, token).call("GET", "/api/v1/flows/runs", params=params)
        for item in page["items"]:
            started = datetime.fromisoformat(item["started_at"]).isoformat(timespec="seconds")
            click.echo(f"{item['id']}  {item['flow']}  {item['status']}  {started}")
        return
    store = open_estate_store(estate_dir, None)
    try:
        runs = FlowRuns(store.db).latest(name, limit)
    finally:
        store.close()
    for run in runs:
        started = run.started_at.isoformat(timespec="seconds")
        click.echo(f"{run.id}  {run.flow}  {run.status}  {started}")


@flows_group.command("show")
@click.argument("run_id")
@estate_option
@_admin
@_token
def show_command(run_id: str, estate_dir: Path, admin_url: str | None, token: str | None) -> None:
    """Show run RUN_ID: its state and each step as JSON."""
    if admin_url is not None:
        shown = _api(admin_url, token).call("GET", f"/api/v1/flows/runs/{run_id}")
        click.echo(json.dumps(shown, indent=2))
        return
    store = open_estate_store(estate_dir, None)
    try:
        repo = FlowRuns(store.db)
        run = repo.get(run_id)
        steps = repo.steps(run_id)
    finally:
        store.close()
    document = {
        "id": run.id,
        "flow": run.flow,
        "revision": run.revision,
        "trigger": run.trigger,
        "status": run.status,
        "error": run.error,
        "input": run.input,
        "message": run.context.get("message"),
        "startedAt": run.started_at.isoformat(),
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "steps": [
            {
                "name": s.name,
                "kind": s.kind,
                "phase": s.phase,
                "status": s.status,
                "attempts": s.attempts,
                "output": s.output,
                "error": s.error,
            }
            for s in steps
        ],
    }
    click.echo(json.dumps(document, indent=2))


@flows_group.command("test")
@click.argument("directory", type=click.Path(path_type=Path), default=".", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON document for CI and editors.")
@click.pass_context
def test_command(ctx: click.Context, directory: Path, as_json: bool) -> None:
    """Run the flow test files (*.test.yaml) under DIRECTORY: each case on the real engine,
    mocks in place of the Systems, no server needed.

    Exits 0 when every case passes, 1 when one fails, 2 when a test file is malformed.
    """
    root = directory.resolve()
    estate, findings = load_estate(root)
    base = estate.root
    errors = [f for f in findings if f.severity == "error"]
    if not errors and not estate.objects:
        raise no_estate(directory)
    tests: list[FlowTestFile] = []
    for path in flow_test_files(root):
        test, problems = read_test_file(path, estate)
        errors.extend(problems)
        if test is not None:
            tests.append(test)
    if errors:
        for finding in errors:
            click.echo(finding.render(base), err=True)
        raise ConfigError(
            f"{len(errors)} problem(s) in the estate or its flow test files: nothing was run"
        )
    if not tests:
        raise ConfigError(f"no flow test files (*.test.yaml) under {directory}")
    # The engine logs each failed step: in a test, the cases' results say what matters.
    engine_log = logging.getLogger("interlink.flows")
    level = engine_log.level
    engine_log.setLevel(logging.ERROR)
    try:
        results = run_files(estate, tests)
    finally:
        engine_log.setLevel(level)
    if as_json:
        click.echo(json.dumps(_results_json(results, base), indent=2))
    else:
        for result in results:
            mark = "ok  " if result.passed else "FAIL"
            click.echo(f"{mark}  {_relative(result.file, base)}: {result.name}")
            for failure in result.failures:
                where = failure.where.render(base).rsplit(":", 1)[0]  # file:line
                click.echo(f"{where}: case '{result.name}': {failure.message}")
        failed = sum(not r.passed for r in results)
        cases = f"{len(results)} case" + ("" if len(results) == 1 else "s")
        click.echo(f"{cases}: {len(results) - failed} passed, {failed} failed")
    ctx.exit(0 if all(r.passed for r in results) else 1)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _results_json(results: list[CaseResult], root: Path) -> dict[str, Any]:
    return {
        "ok": all(r.passed for r in results),
        "passed": sum(r.passed for r in results),
        "failed": sum(not r.passed for r in results),
        "cases": [
            {
                "file": _relative(r.file, root),
                "line": r.where.line,
                "name": r.name,
                "passed": r.passed,
                "status": r.status,
                "error": r.error,
                "failures": [
                    {
                        "file": _relative(f.where.file, root),
                        "line": f.where.line,
                        "col": f.where.col,
                        "message": f.message,
                    }
                    for f in r.failures
                ],
            }
            for r in results
        ],
    }
