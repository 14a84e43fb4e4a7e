"""`interlink flows list|run|resume|runs|show|retry|cancel`: flows run and operated by hand
against the estate's store, or, with ``--admin URL --token T``, on a running node through its
admin API; `interlink flows test`: the flow test files' cases, on the engine with mocks, no
store nor server needed.

``retry --flow NAME`` (or ``--all-failed``) retries many runs a batch at a time: locally they
run here, a few side by side; on a node each batch is one call of the bulk retry endpoint and
the runs go on there. Both show a progress bar on a terminal and one line per batch otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, get_args

import click

from interlink.cli.admin import estate_option, no_estate, open_estate_store
from interlink.cli.events import _Api
from interlink.cli.templates import templates_command
from interlink.errors import ConfigError, InterlinkError, NotFound
from interlink.estate.durations import parse_duration
from interlink.estate.flow_tests import load_flow_tests
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds.flow import Flow, FlowSpec, PublishStep, iter_steps
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate
from interlink.flows.calls import api_targets, system_targets
from interlink.flows.catalog import catalog
from interlink.flows.control import RETRYABLE, RunConflict, RunControl, RunFilter
from interlink.flows.data import ConnectorTransport, system_lookup
from interlink.flows.engine import FlowEngine
from interlink.flows.harness import CaseResult, run_files
from interlink.flows.payloads import limits_of
from interlink.flows.runs import FlowRun, FlowRuns, Status
from interlink.store import Actor, Outcome


@click.group("flows")
def flows_group() -> None:
    """Flows of the estate: list them, run one by hand, list, show, retry and cancel runs,
    run their tests; the flow templates."""


flows_group.add_command(templates_command)


# What a flows command that found no estate asks for: the options it takes, none other.
_GIVE = "--estate DIR, or --admin URL to work on a running node"


@contextmanager
def _engine_quiet() -> Iterator[None]:
    """Keep the engine's warnings (a failed step, a run that failed) off the terminal while a
    command prints how the run ended itself: one line, not the same error twice."""
    engine_log = logging.getLogger("interlink.flows")
    level = engine_log.level
    engine_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        engine_log.setLevel(level)


def _estate(estate_dir: Path) -> Estate:
    estate, _ = load_estate(estate_dir)
    if not estate.objects:
        raise no_estate(estate_dir, _GIVE)
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
#: Runs one bulk retry call picks; runs a local bulk retry runs side by side.
BATCH: Final = 100
PARALLEL: Final = 8
STATUSES: Final = get_args(Status)


def _api(admin_url: str, token: str | None) -> _Api:
    if not token:
        raise ConfigError("--admin needs a token: --token or INTERLINK_TOKEN")
    return _Api(admin_url, token)


def _run_remote(api: _Api, name: str, data: Any) -> dict[str, Any]:
    started = api.call("POST", f"/api/v1/flows/{name}/runs", json=data)
    click.echo(started["id"])
    return _until_ended(api, started["href"])


def _until_ended(api: _Api, href: str) -> dict[str, Any]:
    while True:
        run: dict[str, Any] = api.call("GET", href)
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
    spec = _flows(estate)(name)
    if any(isinstance(s, PublishStep) for s in iter_steps([*spec.steps, *spec.on_error])):
        # The CLI opens no event mesh; a node does, so say where such a flow does run.
        raise ConfigError(
            f"Flow/{name} publishes events, which needs a node's event mesh: start it on a "
            "running node with --admin URL"
        )
    data = _input(source)
    store = open_estate_store(estate_dir, None, _GIVE)
    try:
        engine = _engine(estate, FlowRuns(store.db, lambda: limits_of(estate)))

        async def go(outcome: Outcome) -> FlowRun:
            try:
                run_id = await engine.start(name, data)
                outcome.details["run"] = run_id  # the input is data: not in the entry
                click.echo(run_id)
                return await engine.run(run_id)
            finally:
                await engine.aclose()

        # The line below says how it ended, error included.
        with (
            _engine_quiet(),
            store.audit.recording(Actor.local(), "flow.run", f"flow/{name}") as outcome,
        ):
            run = asyncio.run(go(outcome))
            outcome.details["status"] = run.status
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
    store = open_estate_store(estate_dir, None, _GIVE)
    engine = _engine(estate, FlowRuns(store.db, lambda: limits_of(estate)))

    async def go() -> list[FlowRun]:
        try:
            return await engine.recover()
        finally:
            await engine.aclose()

    try:
        with store.audit.recording(Actor.local(), "flow.resume", "flow/*") as outcome:
            runs = asyncio.run(go())
            outcome.details["runs"] = [run.id for run in runs]
    finally:
        store.close()
    for run in runs:
        click.echo(f"{run.id}  {run.flow}  {run.status}")


@flows_group.command("runs")
@click.argument("name", required=False)
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    help="Only runs in this status (failed: the runs to look at, and retry).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 500),
    default=50,
    show_default=True,
    help="At most this many, latest first.",
)
@estate_option
@_admin
@_token
def runs_command(
    name: str | None,
    status: str | None,
    limit: int,
    estate_dir: Path,
    admin_url: str | None,
    token: str | None,
) -> None:
    """List the latest runs, of flow NAME or of all; a failed run's error follows it."""
    if admin_url is not None:
        params: dict[str, Any] = {"limit": limit, "flow": name, "status": status}
        params = {key: value for key, value in params.items() if value is not None}
        api = _api(admin_url, token)
        page = api.call("GET", "/api/v1/flows/runs", params=params)
        if not page["items"] and name is not None:
            _no_runs_of(name, [flow["name"] for flow in api.call("GET", "/api/v1/flows")])
        for item in page["items"]:
            started = datetime.fromisoformat(item["started_at"])
            _run_line(item["id"], item["flow"], item["status"], started, item.get("error"))
        return
    store = open_estate_store(estate_dir, None, _GIVE)
    try:
        runs = RunControl(store.db).page(name, status, limit).runs  # type: ignore[arg-type]
    finally:
        store.close()
    if not runs and name is not None:
        _no_runs_of(name, _estate(estate_dir).names("Flow"))
    for run in runs:
        _run_line(run.id, run.flow, run.status, run.started_at, run.error)


def _no_runs_of(name: str, flows: Iterable[str]) -> None:
    """A name that is no Flow is a typo to point at, not an empty list: a flow that was
    removed keeps its runs, so this is only asked when there are none."""
    known = list(flows)
    if name not in known:
        hint = did_you_mean(name, known)
        raise NotFound(
            f"no Flow {name!r} in the estate, and no runs of it" + (f" ({hint})" if hint else "")
        )


def _run_line(run_id: str, flow: str, status: str, started: datetime, error: str | None) -> None:
    line = f"{run_id}  {flow}  {status}  {started.isoformat(timespec='seconds')}"
    click.echo(line + (f"  {error}" if error and status in RETRYABLE else ""))


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
    store = open_estate_store(estate_dir, None, _GIVE)
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
        "deadline": run.deadline.isoformat() if run.deadline else None,
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
        raise no_estate(directory, "it as DIR: interlink flows test DIR")
    tests, problems = load_flow_tests(root, estate)
    errors.extend(problems)
    if errors:
        for finding in errors:
            click.echo(finding.render(base), err=True)
        raise ConfigError(
            f"{len(errors)} problem(s) in the estate or its flow test files: nothing was run"
        )
    if not tests:
        raise ConfigError(f"no flow test files (*.test.yaml) under {directory}")
    # The engine logs each failed step: in a test, the cases' results say what matters.
    with _engine_quiet():
        results = run_files(estate, tests)
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


@flows_group.command("list")
@estate_option
@_admin
@_token
def list_command(estate_dir: Path, admin_url: str | None, token: str | None) -> None:
    """The estate's flows: owner, what starts them, steps, and their runs by status."""
    if admin_url is not None:
        rows = [
            (f["name"], f["owner"] or "", f["triggers"], len(f["steps"]), f["runs"])
            for f in _api(admin_url, token).call("GET", "/api/v1/flows")
        ]
    else:
        estate = _estate(estate_dir)
        counts: dict[str, dict[str, int]] | None
        try:
            store = open_estate_store(estate_dir, None, _GIVE)
        except InterlinkError as exc:  # listed all the same, without their runs
            click.echo(f"runs not counted: {exc.message}", err=True)
            counts = None
        else:
            try:
                counts = RunControl(store.db).counts()
            finally:
                store.close()
        rows = [
            (
                e.name,
                e.owner,
                e.triggers,
                e.steps,
                None if counts is None else counts.get(e.name, {}),
            )
            for e in catalog(estate)
        ]
    if not rows:
        click.echo("no flows in the estate")
        return
    table = [("FLOW", "OWNER", "TRIGGERS", "STEPS", "RUNS")]
    for name, owner, triggers, steps, runs in rows:
        shown = "-" if runs is None else ", ".join(f"{k} {v}" for k, v in sorted(runs.items()))
        table.append((name, owner or "-", ", ".join(triggers) or "-", str(steps), shown or "0"))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        click.echo(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4]
        )


@flows_group.command("cancel")
@click.argument("run_id")
@estate_option
@_admin
@_token
def cancel_command(run_id: str, estate_dir: Path, admin_url: str | None, token: str | None) -> None:
    """End running or waiting run RUN_ID cancelled: it stops at its next step boundary."""
    if admin_url is not None:
        done = _api(admin_url, token).call("POST", f"/api/v1/flows/runs/{run_id}/cancel")
        click.echo(f"{done['id']}  {done['status']}")
        return
    store = open_estate_store(estate_dir, None, _GIVE)
    try:
        with store.audit.recording(Actor.local(), "flow.cancel", f"run/{run_id}") as outcome:
            run = RunControl(store.db).cancel(run_id)
            outcome.details["flow"] = run.flow
    finally:
        store.close()
    click.echo(f"{run.id}  {run.status}")


def since_moment(value: str | None) -> datetime | None:
    """``--since``: a duration back from now (``2h``) or an ISO time (UTC when it names none)."""
    if value is None:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--since {value!r}: give a duration back from now (2h, 30m) or an ISO time"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@flows_group.command("retry")
@click.argument("run_id", required=False)
@click.option("--flow", help="Retry the runs of this flow that --status picks.")
@click.option(
    "--all-failed", is_flag=True, help="Retry the failed runs of every flow (with --since)."
)
@click.option(
    "--status",
    "statuses",
    type=click.Choice(RETRYABLE),
    multiple=True,
    help="With --flow: runs that ended so (default failed; repeat for both).",
)
@click.option("--since", help="Only runs that ended in this window: 2h, 30m, or an ISO time.")
@click.option("--yes", is_flag=True, help="Do not ask before retrying many runs.")
@estate_option
@_admin
@_token
def retry_command(
    run_id: str | None,
    flow: str | None,
    all_failed: bool,
    statuses: tuple[str, ...],
    since: str | None,
    yes: bool,
    estate_dir: Path,
    admin_url: str | None,
    token: str | None,
) -> None:
    """Retry failed or compensated run RUN_ID and print how it ended; or, with --flow NAME or
    --all-failed, every run that matches, a batch at a time, with progress."""
    bulk = flow is not None or all_failed
    if (run_id is None) == (not bulk):
        raise ConfigError("give a RUN_ID, or --flow NAME or --all-failed, one of them")
    if bulk and flow is not None and all_failed:
        raise ConfigError("--flow and --all-failed pick runs differently: give one of them")
    if not bulk and (statuses or since):
        raise ConfigError("--status and --since pick runs with --flow or --all-failed")
    if all_failed and statuses and set(statuses) != {"failed"}:
        raise ConfigError("--all-failed retries failed runs: use --flow NAME --status for others")
    match = RunFilter(flow, statuses or ("failed",), since_moment(since), datetime.now(UTC))
    if admin_url is not None:
        api = _api(admin_url, token)
        if run_id is not None:
            retried = api.call("POST", f"/api/v1/flows/runs/{run_id}/retry")
            _ended_line(_until_ended(api, retried["href"]))
            return
        _retry_remote(api, match, yes)
        return
    estate = _estate(estate_dir)
    store = open_estate_store(estate_dir, None, _GIVE)
    try:
        if run_id is not None:
            # _ended_line says how it ended, error included.
            with (
                _engine_quiet(),
                store.audit.recording(Actor.local(), "flow.retry", f"run/{run_id}") as outcome,
            ):
                retried = _retry_here(estate, store.db, [run_id], lambda _: None, False)
                run = asyncio.run(retried)[0]
                outcome.details["status"] = None if run is None else run.status
            assert run is not None  # a conflict is raised for a single run
            _ended_line({"id": run.id, "status": run.status, "error": run.error})
            return
        control = RunControl(store.db)
        total = control.count_matching(match)
        if not _confirmed(total, match, yes, lambda: estate.names("Flow")):
            return
        ended: list[FlowRun] = []
        picked = {"statuses": list(match.statuses), "since": since}
        with (
            _Progress(total) as progress,
            store.audit.recording(
                Actor.local(), "flow.retry", f"flow/{flow or '*'}", **picked
            ) as outcome,
        ):
            while batch := control.matching(match, BATCH):
                done = asyncio.run(_retry_here(estate, store.db, batch, progress.advance))
                ended += [run for run in done if run is not None]
                progress.batch_done()
            outcome.details["retried"] = len(ended)
    finally:
        store.close()
    outcomes: dict[str, int] = {}
    for run in ended:
        outcomes[run.status] = outcomes.get(run.status, 0) + 1
    summary = ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
    click.echo(f"retried {len(ended)} run(s)" + (f": {summary}" if summary else ""))
    if any(run.status in RETRYABLE for run in ended):
        sys.exit(1)


def _ended_line(run: dict[str, Any]) -> None:
    error = run.get("error")
    click.echo(f"{run['id']}  {run['status']}" + (f": {error}" if error else ""))
    if run["status"] not in ("completed", "filtered", "duplicate"):
        sys.exit(1)


def _confirmed(total: int, match: RunFilter, yes: bool, flows: Callable[[], Iterable[str]]) -> bool:
    what = f"{total} {' or '.join(match.statuses)} run(s)"
    what += f" of Flow/{match.flow}" if match.flow else " of every flow"
    if total == 0:
        if match.flow is not None:
            _no_runs_of(match.flow, flows())
        click.echo(f"no {' or '.join(match.statuses)} runs to retry")
        return False
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError(f"retrying {what} needs --yes when not asked on a terminal")
    return click.confirm(f"Retry {what}?", default=False)


class _Progress:
    """A bar on a terminal; one line per batch elsewhere (a log stays readable)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self._tty = sys.stdout.isatty()
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if self._tty:
            self._bar = click.progressbar(length=self.total, label="retrying").__enter__()
        return self

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)

    def batch_done(self) -> None:
        if self._bar is None:
            click.echo(f"retried {self.done}/{self.total}")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


async def _retry_here(
    estate: Estate,
    db: Any,
    ids: list[str],
    advance: Callable[[int], None],
    skip_conflicts: bool = True,
) -> list[FlowRun | None]:
    """Retry runs and run them in this process, a few side by side; how each ended (None: it
    was retried or cancelled meanwhile, and said so)."""
    engine = _engine(estate, FlowRuns(db))
    control = RunControl(db)
    gate = asyncio.Semaphore(PARALLEL)

    async def one(run_id: str) -> FlowRun | None:
        async with gate:
            try:
                await asyncio.to_thread(control.retry, run_id, engine.owner, engine.lease_ttl)
            except RunConflict as exc:
                if not skip_conflicts:
                    raise
                click.echo(f"{run_id}  skipped: {exc.message}", err=True)
                advance(1)
                return None
            run = await engine.run(run_id)
            advance(1)
            return run

    try:
        return list(await asyncio.gather(*(one(run_id) for run_id in ids)))
    finally:
        await engine.aclose()


def _retry_remote(api: _Api, match: RunFilter, yes: bool) -> None:
    body: dict[str, Any] = {"status": list(match.statuses), "limit": BATCH}
    if match.flow is not None:
        body["flow"] = match.flow
    if match.ended_since is not None:
        body["ended_since"] = match.ended_since.isoformat()
    counted = api.call("POST", "/api/v1/flows/runs/retry", json={**body, "dry_run": True})
    body["ended_before"] = counted["ended_before"]  # the node's moment, kept for every batch
    total = int(counted["remaining"])

    def names() -> list[str]:
        return [flow["name"] for flow in api.call("GET", "/api/v1/flows")]

    if not _confirmed(total, match, yes, names):
        return
    retried = 0
    skipped: list[dict[str, str]] = []
    with _Progress(total) as progress:
        while True:
            batch = api.call("POST", "/api/v1/flows/runs/retry", json=body)
            retried += len(batch["retried"])
            skipped += batch["skipped"]
            progress.advance(len(batch["retried"]) + len(batch["skipped"]))
            progress.batch_done()
            if int(batch["remaining"]) == 0 or not (batch["retried"] or batch["skipped"]):
                break
    for skip in skipped:
        click.echo(f"{skip['id']}  skipped: {skip['reason']}")
    click.echo(
        f"retried {retried} run(s) on the node (`flows runs --status failed`: any failed again)"
    )
