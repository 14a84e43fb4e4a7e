"""Gateway routes on the admin API: how a route's shadow upstream compares with its primary."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from interlink.admin.lookup import known
from interlink.observe.comparisons import since_time, summary_json

router = APIRouter()


@router.get("/api/v1/routes/{name}/comparison", tags=["gateway"])
async def comparison(
    request: Request,
    name: str,
    since: Annotated[str, Query(description="how far back: 1h, 24h, 7d")] = "24h",
    top: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    """The route's shadow comparisons: counts, match rate and the most frequent differing
    fields (JSON pointers, array indexes as ``*``)."""
    runtime = request.app.state.runtime
    start = since_time(since)
    summary = await run_in_threadpool(runtime.store.comparisons.summary, name, start, top)
    if summary.compared == 0:  # comparisons kept from a Route since removed are still served
        known("Route", name, runtime.snapshot.estate.names("Route"))
    return summary_json(summary)
