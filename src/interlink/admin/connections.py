"""Observed connections on the admin API: who called which route through which System, and
which flow read from or wrote to which System through its connector, per hour.

The gateway counts requests per UTC hour by (consumer, route, upstream System); the flows count
their connector operations (query and write steps, poll triggers, sends, file operations) per
UTC hour by (flow, System, direction, operation), with the volume moved and the failures. Both
are written to the store every 30 seconds and when the process stops, so the latest half minute
may be missing. Reading needs the viewer role.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from interlink.store import ObservedCall, ObservedConnection

#: The window read when ``since`` is not given.
DEFAULT_WINDOW = timedelta(days=1)

router = APIRouter()


class ConnectionOut(BaseModel):
    hour: datetime = Field(description="start of the UTC hour counted")
    consumer: str | None = Field(description="the authenticated Consumer; null when none")
    route: str
    system: str = Field(description="the upstream System the route sent the requests to")
    count: int


class CallOut(BaseModel):
    hour: datetime = Field(description="start of the UTC hour counted")
    flow: str = Field(description="the Flow that made the calls (its steps and trigger)")
    system: str
    direction: str = Field(description="read or write")
    operation: str = Field(
        description="query, write, poll, send, receive, list_files, read_file, write_file, "
        "move_file or delete_file"
    )
    calls: int
    volume: int = Field(
        description="what the calls moved: rows (query, write, poll), messages (send, "
        "receive), files (list, move, delete) or bytes (read_file, write_file)"
    )
    errors: int = Field(description="the calls that failed")


class ConnectionsOut(BaseModel):
    since: datetime
    connections: list[ConnectionOut]
    calls: list[CallOut] = Field(description="the flows' connector calls")


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
    since: Annotated[
        datetime | None,
        Query(description="RFC 3339 time; hours starting at or after its hour (default: 24h)"),
    ] = None,
) -> ConnectionsOut:
    """Requests per hour from each consumer through each route to each upstream System, and
    connector calls per hour from each flow to each System."""
    if since is None:
        since = datetime.now(UTC) - DEFAULT_WINDOW
    elif since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    store = request.app.state.runtime.store
    rows = await run_in_threadpool(store.connections.list, since)
    calls = await run_in_threadpool(store.connector_calls.list, since)
    return ConnectionsOut(
        since=since, connections=[_out(r) for r in rows], calls=[_call(c) for c in calls]
    )


def _call(row: ObservedCall) -> CallOut:
    return CallOut(
        hour=row.hour,
        flow=row.caller,
        system=row.system,
        direction=row.direction,
        operation=row.operation,
        calls=row.calls,
        volume=row.volume,
        errors=row.errors,
    )
