"""Flows on the admin API: start a run, list flows and runs, show one, retry and cancel,
and retry many at once.

Reads need the viewer role; starting, retrying and cancelling need operator, of the flow's
owning Team for a team-scoped token (permissions.py). Runs are read from the store, so any node
answers for every run; starting and retrying run the flow on the node asked (another takes it
over if that node dies).

A bulk retry (``POST /api/v1/flows/runs/retry``) retries up to ``limit`` ended runs a filter
picks and answers with what it did and how many the filter still picks. The answer's
``ended_before`` is the moment the bulk retry began: the caller sends it back with the next
call, so a retried run that fails again is not picked a second time, and calling until
``remaining`` is 0 goes through every matching run once (``interlink flows retry --flow``
does, showing its progress). ``dry_run`` counts without retrying.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from interlink.admin.audited import audited, audited_route
from interlink.admin.auth import Granted
from interlink.admin.params import AwareInstant
from interlink.admin.responses import problems
from interlink.errors import BadRequest, NotFound
from interlink.estate.kinds.flow import Flow
from interlink.flows.catalog import catalog
from interlink.flows.control import RunControl, RunFilter
from interlink.flows.payloads import REF, PayloadTooLarge, is_ref, over
from interlink.flows.runs import FlowRun, Status, StepRecord
from interlink.runtime.flows import RETRY_BATCH, FlowRunner

StatusName = Status
RetryableStatus = Literal["failed", "compensated"]

router = APIRouter()


class BulkRetry(BaseModel):
    """Which ended runs to retry, and how many in this call."""

    model_config = ConfigDict(extra="forbid")

    flow: str | None = Field(default=None, description="runs of this flow only")
    status: list[RetryableStatus] = Field(
        default_factory=lambda: list[RetryableStatus](["failed"]),
        min_length=1,
        description="runs that ended so",
    )
    ended_since: AwareInstant | None = Field(
        default=None, description="runs that ended then or later"
    )
    ended_before: AwareInstant | None = Field(
        default=None,
        description="runs that ended then or earlier; the first call's answer gives it (the "
        "moment the bulk retry began) to send back with the next",
    )
    limit: int = Field(default=100, ge=1, le=RETRY_BATCH, description="most runs retried now")
    dry_run: bool = Field(default=False, description="count the runs picked, retry none")


def _runner(request: Request) -> FlowRunner:
    runner: FlowRunner | None = getattr(request.app.state.runtime, "flows", None)
    if runner is None:
        raise NotFound("flows are not running in this process")
    return runner


def _control(request: Request) -> RunControl:
    return RunControl(request.app.state.runtime.store.db)


def _location(run_id: str) -> str:
    return f"/api/v1/flows/runs/{run_id}"


def _run(run: FlowRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "flow": run.flow,
        "status": run.status,
        "trigger": run.trigger,
        "revision": run.revision,
        "step": run.step,
        "error": run.error,
        "owner": run.owner,
        "started_at": run.started_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "deadline": run.deadline.isoformat() if run.deadline else None,
        "href": _location(run.id),
    }


def _step(step: StepRecord) -> dict[str, Any]:
    took = None
    if step.finished_at is not None:
        took = round((step.finished_at - step.started_at).total_seconds(), 6)
    return {
        "name": step.name,
        "kind": step.kind,
        "phase": step.phase,
        "index": step.index,
        "status": step.status,
        "attempts": step.attempts,
        "started_at": step.started_at.isoformat(),
        "finished_at": step.finished_at.isoformat() if step.finished_at else None,
        "seconds": took,
        "error": step.error,
        "output": step.output,
        "tries": [t.to_json() for t in step.tries],
    }


@router.get("/api/v1/flows", tags=["flows"])
async def flows(request: Request) -> list[dict[str, Any]]:
    """The estate's flows, each with its runs counted by status."""
    counts = await run_in_threadpool(_control(request).counts)
    estate = request.app.state.runtime.snapshot.estate
    entries = {entry.name: entry for entry in catalog(estate)}
    out = []
    for item in sorted(estate.of(Flow), key=lambda f: f.name):
        trigger = item.spec.trigger
        entry = entries[item.name]
        out.append(
            {
                "name": item.name,
                "owner": item.metadata.owner,
                "trigger": trigger.model_dump(exclude_none=True) if trigger else None,
                "triggers": entry.triggers,
                "timeout": entry.timeout,
                "steps": [s.name for s in item.spec.steps],
                "runs": counts.get(item.name, {}),
            }
        )
    return out


@router.post(
    "/api/v1/flows/{name}/runs",
    tags=["flows"],
    status_code=202,
    responses=problems(
        {
            400: "the body is not JSON",
            404: "no such flow, or flows do not run in this process",
            413: "the input is larger than the Platform allows",
            422: "the input does not match the flow's input schema",
        }
    ),
    openapi_extra=audited_route("flow.run"),
)
async def start(request: Request, name: str, who: Granted) -> JSONResponse:
    """Start a run of flow ``name`` with the JSON body as its input (``{}`` without one)."""
    # The input is data, perhaps personal: the entry names the run, not what it was given.
    async with audited(request, who, "flow.run", f"flow/{name}") as outcome:
        started = await _start(request, name)
        outcome.details["run"] = json.loads(bytes(started.body))["id"]
    return started


async def _start(request: Request, name: str) -> JSONResponse:
    runner = _runner(request)
    # Checked before the body is read whole when its length is declared; the engine checks
    # the input as JSON again (a body that is compact JSON may be larger written out).
    maximum = runner.runs.payloads.limits.maximum
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > maximum:
        raise PayloadTooLarge(over("the input", int(declared), maximum), int(declared))
    raw = await request.body()
    if len(raw) > maximum:
        raise PayloadTooLarge(over("the input", len(raw), maximum), len(raw))
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    run_id = await runner.start_run(name, data, "api")
    return JSONResponse(
        {"id": run_id, "flow": name, "status": "running", "href": _location(run_id)},
        status_code=202,
        headers={"Location": _location(run_id)},
    )


@router.get(
    "/api/v1/flows/runs",
    tags=["flows"],
    responses=problems({400: "a cursor this API did not return"}),
)
async def runs(
    request: Request,
    flow: str | None = None,
    status: StatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The latest runs first, a page at a time: pass ``next_cursor`` back as ``cursor``."""
    page = await run_in_threadpool(_control(request).page, flow, status, limit, cursor)
    return {"items": [_run(r) for r in page.runs], "next_cursor": page.next_cursor}


@router.post(
    "/api/v1/flows/runs/retry",
    tags=["flows"],
    responses=problems(
        {400: "a status that does not retry", 404: "flows do not run in this process"}
    ),
    openapi_extra=audited_route("flow.retry"),
)
async def retry_many(request: Request, body: BulkRetry, who: Granted) -> dict[str, Any]:
    """Retry up to ``limit`` failed (or compensated) runs a filter picks, and run them on this
    node; call again with the answer's ``ended_before`` until ``remaining`` is 0."""
    if body.dry_run:  # counts, changes nothing
        return await _retry_many(request, body)
    picked = body.model_dump(mode="json", exclude_none=True, exclude={"dry_run"})
    target = f"flow/{body.flow}" if body.flow else "flow/*"
    async with audited(request, who, "flow.retry", target, **picked) as outcome:
        done = await _retry_many(request, body)
        outcome.details.update(retried=done["retried"], skipped=len(done["skipped"]))
    return done


async def _retry_many(request: Request, body: BulkRetry) -> dict[str, Any]:
    runner = _runner(request)
    before = body.ended_before or request.app.state.runtime.store.db.now()
    match = RunFilter(body.flow, tuple(body.status), body.ended_since, before)
    control = _control(request)
    if body.dry_run:
        remaining = await run_in_threadpool(control.count_matching, match)
        return {
            "ended_before": before.isoformat(),
            "retried": [],
            "skipped": [],
            "remaining": remaining,
        }
    batch = await runner.retry_many(match, body.limit)
    return {
        "ended_before": before.isoformat(),
        "retried": batch.retried,
        "skipped": batch.skipped,
        "remaining": batch.remaining,
    }


@router.get(
    "/api/v1/flows/runs/{run_id}",
    tags=["flows"],
    responses=problems({404: "no such run"}),
)
async def run(
    request: Request, run_id: str, payloads: Literal["ref", "full"] = "ref"
) -> dict[str, Any]:
    """One run: its input, message, error and each step's timing, attempts, error, output.
    A large input or output is stored apart and shown as ``{"$payload": <sha256>, "bytes":
    <size>}`` (its ``href`` fetches it); ``?payloads=full`` shows them whole instead."""
    control = _control(request)
    found = await run_in_threadpool(control.runs.get, run_id)
    steps = await run_in_threadpool(control.runs.steps, run_id)
    values = [found.input, found.context.get("message"), *(s.output for s in steps)]
    if payloads == "full":
        values = await run_in_threadpool(control.runs.payloads.loaded, run_id, values)
    else:
        values = [_linked(run_id, value) for value in values]
    return {
        **_run(found),
        "input": values[0],
        "message": values[1],
        "steps": [
            {**_step(s), "output": output} for s, output in zip(steps, values[2:], strict=True)
        ],
    }


@router.get(
    "/api/v1/flows/runs/{run_id}/payloads/{digest}",
    tags=["flows"],
    responses=problems({404: "no such run, or no such payload of it"}),
)
async def payload(request: Request, run_id: str, digest: str) -> JSONResponse:
    """One payload a run stored apart (a large input or step output), as the JSON it was."""
    value = await run_in_threadpool(_control(request).runs.payloads.fetch, run_id, digest)
    return JSONResponse(value)


def _linked(run_id: str, value: Any) -> Any:
    """A reference to a stored payload with where to fetch it."""
    if not is_ref(value):
        return value
    return {**value, "href": f"{_location(run_id)}/payloads/{value[REF]}"}


@router.post(
    "/api/v1/flows/runs/{run_id}/retry",
    tags=["flows"],
    status_code=202,
    responses=problems(
        {
            404: "no such run, or flows do not run in this process",
            409: "the run is not in a state that allows this",
        }
    ),
    openapi_extra=audited_route("flow.retry"),
)
async def retry(request: Request, run_id: str, who: Granted) -> JSONResponse:
    """Run a failed or compensated run again: from the failed step, or from the start when
    its completed calls were undone."""
    async with audited(request, who, "flow.retry", f"run/{run_id}") as outcome:
        found = await _runner(request).retry(run_id)
        outcome.details["flow"] = found.flow
    return JSONResponse(_run(found), status_code=202, headers={"Location": _location(run_id)})


@router.post(
    "/api/v1/flows/runs/{run_id}/cancel",
    tags=["flows"],
    responses=problems(
        {
            404: "no such run, or flows do not run in this process",
            409: "the run is not in a state that allows this",
        }
    ),
    openapi_extra=audited_route("flow.cancel"),
)
async def cancel(request: Request, run_id: str, who: Granted) -> dict[str, Any]:
    """End a running run ``cancelled``: its node stops at the next step boundary."""
    async with audited(request, who, "flow.cancel", f"run/{run_id}") as outcome:
        found = await run_in_threadpool(_control(request).cancel, run_id)
        outcome.details["flow"] = found.flow
    return _run(found)
