"""The audit log on the admin API: its entries, and whether its chain is intact (platform-wide
admin, permissions.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel
from starlette.concurrency import run_in_threadpool

from interlink.store import Action, AuditFilter

router = APIRouter()


class Who(BaseModel):
    id: str | None
    name: str
    role: str | None


class EntryOut(BaseModel):
    seq: int
    at: datetime
    who: Who
    address: str
    action: str
    target: str
    details: dict[str, Any]
    result: Literal["ok", "refused", "failed"]
    reason: str | None
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    entries: list[EntryOut]
    next_after: int | None


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    broken_at: int | None
    problem: str | None


@router.get("/api/v1/audit", tags=["audit"])
async def entries(
    request: Request,
    since: AwareDatetime | None = None,
    action: Action | None = None,
    who: Annotated[str | None, Query(description="a token id or name, or cli-local")] = None,
    after: Annotated[int, Query(ge=0, description="the last seq seen: the next page")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Audit entries oldest first: who did what, from where, and how it ended. Page with
    ``after=<next_after>``."""
    log = request.app.state.runtime.store.audit
    found = await run_in_threadpool(log.list, AuditFilter(since, action, who, after), limit)
    return AuditPage(
        entries=[EntryOut.model_validate(e.to_json()) for e in found],
        next_after=found[-1].seq if len(found) == limit else None,
    )


@router.get("/api/v1/audit/verify", tags=["audit"])
async def verify(request: Request) -> VerifyOut:
    """Walk the audit log's hash chain; the first entry edited, inserted or deleted, if any."""
    verdict = await run_in_threadpool(request.app.state.runtime.store.audit.verify)
    return VerifyOut(
        ok=verdict.ok,
        checked=verdict.checked,
        head_seq=verdict.head_seq,
        head_hash=verdict.head_hash,
        broken_at=verdict.broken_at,
        problem=verdict.problem,
    )
