"""Observed connections on the admin API: who called which route through which System, per hour.

The gateway counts requests per UTC hour by (consumer, route, upstream System) and writes them
to the store every 30 seconds and when it stops, so the latest half minute may be missing.
Reading needs the viewer role.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from interlink.admin.auth import require
from interlink.store import ObservedConnection, TokenInfo

Viewer = Annotated[TokenInfo, Depends(require("viewer"))]
#: The window read when ``since`` is not given.
DEFAULT_WINDOW = timedelta(days=1)

router = APIRouter()


class ConnectionOut(BaseModel):
    hour: datetime = Field(description="start of the UTC hour counted")
    consumer: str | None = Field(description="the authenticated Consumer; null when none")
    route: str
    system: str = Field(description="the upstream System the route sent the requests to")
    count: int


class ConnectionsOut(BaseModel):
    since: datetime
    connections: list[ConnectionOut]


def _out(row: ObservedConnection) -> ConnectionOut:
    return ConnectionOut(
        hour=row.hour,
        consumer=row.consumer or None,
        route=row.route,
        system=row.system,
        count=row.count,
    )


@router.get("/api/v1/connections", tags=["gateway"])
async def connections(
    request: Request,
    _: Viewer,
    since: Annotated[
        datetime | None,
        Query(description="RFC 3339 time; hours starting at or after its hour (default: 24h)"),
    ] = None,
) -> ConnectionsOut:
    """Requests per hour from each consumer through each route to each upstream System."""
    if since is None:
        since = datetime.now(UTC) - DEFAULT_WINDOW
    elif since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    store = request.app.state.runtime.store
    rows = await run_in_threadpool(store.connections.list, since)
    return ConnectionsOut(since=since, connections=[_out(r) for r in rows])
