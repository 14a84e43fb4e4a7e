"""The alerts: what fires and what fired, how each was told, and the silences."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from interlink.admin.audited import audited, audited_route
from interlink.admin.auth import Grant, Granted
from interlink.alerts.report import alert_documents, silence, silence_document
from interlink.estate.durations import Duration
from interlink.store import Silence

router = APIRouter()


class NewSilence(BaseModel):
    """A silence over one monitor's alerts, or over every alert of one target."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    monitor: str | None = Field(default=None, description="the Monitor whose alerts are held")
    target: str | None = Field(default=None, description="or a target: Kind/name")
    for_: Duration = Field(alias="for", description="how long: 2h, 30m, 1d (at most 30 days)")
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one(self) -> NewSilence:
        if (self.monitor is None) == (self.target is None):
            raise ValueError("name a monitor or a target, one of them")
        return self


@router.get("/api/v1/alerts", tags=["alerts"])
async def alerts(
    request: Request,
    state: Literal["firing", "resolved", "all"] = "firing",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The alerts, newest first, each with its notifications and the silence over it."""
    book = request.app.state.runtime.store.alerts
    found = await run_in_threadpool(alert_documents, book, state, limit, book.now())
    return {"alerts": found}


@router.get("/api/v1/alerts/silences", tags=["alerts"])
async def silences(request: Request, all: bool = False) -> dict[str, Any]:
    """The active silences (``all=true``: every one kept), soonest to end first."""
    book = request.app.state.runtime.store.alerts
    found = await run_in_threadpool(book.silences, None if all else book.now())
    return {"silences": [silence_document(s) for s in found]}


@router.post(
    "/api/v1/alerts/silences",
    tags=["alerts"],
    status_code=201,
    openapi_extra=audited_route("alert.silence"),
)
async def add_silence(who: Granted, request: Request, body: NewSilence) -> dict[str, Any]:
    """Hold back the notifications of a monitor's (or a target's) alerts for a while; the
    alerts stay visible."""
    target = f"monitor/{body.monitor}" if body.monitor is not None else str(body.target)
    async with audited(
        request, who, "alert.silence", target, seconds=body.for_, reason=body.reason
    ) as outcome:
        made = await _silence(who, request, body)
        outcome.details["silence"] = made.id
    return silence_document(made)


async def _silence(who: Grant, request: Request, body: NewSilence) -> Silence:
    runtime = request.app.state.runtime
    made: Silence = await run_in_threadpool(
        lambda: silence(
            runtime.store.alerts,
            runtime.snapshot.estate,
            monitor=body.monitor,
            target=body.target,
            seconds=body.for_,
            reason=body.reason,
            by=f"token:{who.token_name}",
        )
    )
    return made


@router.delete(
    "/api/v1/alerts/silences/{silence_id}",
    tags=["alerts"],
    openapi_extra=audited_route("alert.unsilence"),
)
async def lift_silence(who: Granted, request: Request, silence_id: int) -> dict[str, Any]:
    """End a silence now."""
    book = request.app.state.runtime.store.alerts
    async with audited(request, who, "alert.unsilence", f"silence/{silence_id}"):
        lifted = await run_in_threadpool(book.lift, silence_id, book.now())
    return silence_document(lifted)
