"""GET /api/v1/lineage/{type}/{key}: where one data subject's data went."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from interlink.admin.responses import problems
from interlink.observe.comparisons import since_time
from interlink.observe.lineage import subject_types, trace_subject

router = APIRouter()


@router.get(
    "/api/v1/lineage/{subject_type}/{key}",
    tags=["lineage"],
    responses=problems(
        {400: "since is not a duration such as 1h, 24h or 7d", 404: "no such subject type"}
    ),
)
async def lineage_trace(
    request: Request,
    subject_type: str,
    key: str,
    since: Annotated[str | None, Query(description="how far back: 24h, 30d; default: all")] = None,
) -> dict[str, Any]:
    """Every recorded hop of the subject's data, oldest first: published, delivered,
    transformed, written, served. ``DataProduct/NAME`` gives each read of the product's PII
    columns (kind ``read``, its detail as data under ``read``). An undeclared subject type is
    a 404 naming the declared ones; a declared one with nothing recorded is an empty ``hops``
    list with a ``message``."""
    runtime = request.app.state.runtime
    start = since_time(since) if since is not None else None
    declared = subject_types(runtime.snapshot.estate)
    if runtime.lineage is not None:  # what was recorded in the last second, too
        await runtime.lineage.recorder.flush()
    trace = await run_in_threadpool(
        trace_subject, runtime.store, declared, subject_type, key, start
    )
    return trace.as_json()
