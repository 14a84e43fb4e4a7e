"""`interlink flows run|resume|runs|show`: flows run by hand against the estate's store, or,
with ``--admin URL --token T``, on a running node through its admin API."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from interlink.cli.admin import estate_option, no_estate, open_estate_store
from interlink.cli.events import _Api
from interlink.errors import ConfigError, NotFound
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate
from interlink.flows.calls import api_targets, system_targets
from interlink.flows.engine import FlowEngine
from interlink.flows.payloads import limits_of
from interlink.flows.runs import FlowRun, FlowRuns


@click.group("flows")
def flows_group() -> None:
    """Flows of the estate: run one by hand, list runs, show one."""


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
    return FlowEngine(runs, _flows(estate), system_targets(estate), apis=api_targets(estate))


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
        engine = _engine(estate, FlowRuns(store.db, lambda: limits_of(estate)))

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
    engine = _engine(estate, FlowRuns(store.db, lambda: limits_of(estate)))

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
@click.option(
    "--payloads",
    type=click.Choice(["ref", "full"]),
    default="ref",
    show_default=True,
    help="Large inputs and outputs as their reference and size, or loaded whole.",
)
@estate_option
@_admin
@_token
def show_command(
    run_id: str, payloads: str, estate_dir: Path, admin_url: str | None, token: str | None
) -> None:
    """Show run RUN_ID: its state and each step as JSON."""
    if admin_url is not None:
        params = {"payloads": payloads}
        shown = _api(admin_url, token).call("GET", f"/api/v1/flows/runs/{run_id}", params=params)
        click.echo(json.dumps(shown, indent=2))
        return
    store = open_estate_store(estate_dir, None)
    try:
        repo = FlowRuns(store.db)
        run = repo.get(run_id)
        steps = repo.steps(run_id)
        values = [run.input, run.context.get("message"), *(s.output for s in steps)]
        if payloads == "full":
            values = repo.payloads.loaded(run_id, values)
    finally:
        store.close()
    document = {
        "id": run.id,
        "flow": run.flow,
        "revision": run.revision,
        "trigger": run.trigger,
        "status": run.status,
        "error": run.error,
        "input": values[0],
        "message": values[1],
        "startedAt": run.started_at.isoformat(),
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "steps": [
            {
                "name": s.name,
                "kind": s.kind,
                "phase": s.phase,
                "status": s.status,
                "attempts": s.attempts,
                "output": output,
                "error": s.error,
            }
            for s, output in zip(steps, values[2:], strict=True)
        ],
    }
    click.echo(json.dumps(document, indent=2))
