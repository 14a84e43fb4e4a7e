"""Monitors on the admin API: each Monitor of the running estate with its latest verdict.

Verdicts are written to the store by whichever node evaluates the monitor (every 30 seconds),
so any node answers for all of them. ``state`` is ``firing``, ``ok`` or ``pending`` (not
evaluated yet); ``facts`` are the verdict's, by monitor type (observe/verdicts.py). Reading
needs the viewer role.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from interlink.observe.monitoring import MonitorStatus, statuses

router = APIRouter()


class TargetOut(BaseModel):
    kind: str
    name: str


class MonitorOut(BaseModel):
    name: str
    type: Literal["slo", "freshness", "anomaly"]
    target: TargetOut
    severity: str
    state: Literal["firing", "ok", "pending"]
    evaluated_at: datetime | None = Field(
        serialization_alias="evaluatedAt", description="when the latest verdict was reached"
    )
    facts: dict[str, float | int | str | None] = Field(
        description="the latest verdict's facts, by monitor type (none while pending)"
    )


class MonitorsOut(BaseModel):
    monitors: list[MonitorOut]


def _out(status: MonitorStatus) -> MonitorOut:
    doc = status.document()
    return MonitorOut(
        name=doc["name"],
        type=doc["type"],
        target=TargetOut(**doc["target"]),
        severity=doc["severity"],
        state=doc["state"],
        evaluated_at=status.state.at if status.state is not None else None,
        facts=doc["facts"],
    )


@router.get("/api/v1/monitors", tags=["observe"], response_model_by_alias=True)
async def monitors(request: Request) -> MonitorsOut:
    """Every Monitor of the running estate, firing, ok or pending, with its latest facts."""
    runtime = request.app.state.runtime
    states = await run_in_threadpool(runtime.store.monitor_states.list)
    return MonitorsOut(monitors=[_out(s) for s in statuses(runtime.snapshot.estate, states)])
