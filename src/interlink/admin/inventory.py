"""The inventory and impact on the admin API: every connection, declared and observed, and
what a System, Api or Event reaches (observe/inventory.py, observe/impact.py). Reading needs
the viewer role; the store is read whole (hourly counts), in a worker thread."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from interlink.admin.responses import problems
from interlink.observe.comparisons import since_time
from interlink.observe.impact import impact, resolve_subject
from interlink.observe.inventory import Inventory, inventory_json, read_inventory

Kind = Literal["request", "read", "publish", "deliver", "trigger", "call", "connector"]
Since = Annotated[
    str, Query(description="the window counted: a duration (24h, 7d, 30d); default 7d")
]

router = APIRouter()


async def inventory_of(request: Request, since: str) -> Inventory:
    """The inventory over the window ``since`` (a duration) up to now."""
    runtime = request.app.state.runtime
    start = since_time(since)
    snapshot = runtime.snapshot
    now = datetime.now(UTC)

    def read() -> Inventory:  # the snapshot's declared side, worked out once per revision
        rows = snapshot.declared
        return read_inventory(snapshot.estate, runtime.store, start, now, declared_rows=rows)

    return await run_in_threadpool(read)


@router.get(
    "/api/v1/inventory",
    tags=["observe"],
    responses=problems({400: "since is not a duration such as 1h, 24h or 7d"}),
)
async def inventory(
    request: Request,
    since: Since = "7d",
    undeclared: Annotated[bool, Query(description="only observed, undeclared ones")] = False,
    unused: Annotated[bool, Query(description="only declared ones with no traffic")] = False,
    kind: Annotated[Kind | None, Query(description="only connections of this kind")] = None,
) -> dict[str, Any]:
    """Every connection, declared in the estate and observed by the platform: from, to, how,
    trigger, formats and contracts, failure handling, owner, traffic per hour and its busiest
    hours, error rate, first and last seen; flagged undeclared or unused. The summary holds
    the observed / declared ratio."""
    inv = await inventory_of(request, since)
    return inventory_json(inv, inv.filtered(undeclared=undeclared, unused=unused, kind=kind))


@router.get(
    "/api/v1/impact/{kind}/{name}",
    tags=["observe"],
    responses=problems(
        {
            400: "not a System, Api or Event, a name that is ambiguous, or a bad since",
            404: "no such object in the estate",
        }
    ),
)
async def impact_of(request: Request, kind: str, name: str, since: Since = "7d") -> dict[str, Any]:
    """Everything affected if the System, Api or Event changes or fails: routes, consumers,
    subscriptions, flows, products and teams, over declared and observed connections."""
    estate = request.app.state.runtime.snapshot.estate
    key = resolve_subject(estate, f"{kind}/{name}")
    inv = await inventory_of(request, since)
    return impact(estate, inv.connections, key).to_json()
