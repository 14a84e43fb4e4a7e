"""The console's revisions pages: every estate revision recorded (when, by whom, from what,
how many objects it added, removed and changed), and one revision's diff to the one before it
with the audit entries that recorded it."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from interlink.admin.console.access import may, require
from interlink.admin.console.paging import PageNumber, paged
from interlink.admin.console.render import html
from interlink.admin.console.revision_diff import changes, diff, previous
from interlink.admin.console.session import Signed
from interlink.admin.params import Id
from interlink.store import AuditEntry, AuditFilter, Revision, Store

router = APIRouter(include_in_schema=False)

PER_PAGE: Final = 50
#: The audit entry of a reload or an apply follows its revision by moments; this much earlier
#: covers clocks of nodes a little apart.
_SKEW: Final = timedelta(minutes=1)


def _counts(revision: Revision) -> dict[str, int]:
    summary = revision.summary
    return {
        "objects": int(summary.get("objects", len(revision.object_hashes))),
        **{k: len(summary.get(k, ())) for k in ("added", "removed", "changed")},
    }


@router.get("/revisions")
async def revisions_page(
    request: Request,
    viewer: Signed,
    before: Annotated[Id | None, Query()] = None,
) -> Response:
    await require(request, viewer, "revisions.list")
    store: Store = request.app.state.runtime.store
    found = await run_in_threadpool(store.revisions.list, PER_PAGE + 1, before)
    running = request.app.state.runtime.snapshot.revision
    return html(
        request,
        "revisions.html",
        viewer,
        revisions=[(r, _counts(r)) for r in found[:PER_PAGE]],
        older=found[PER_PAGE - 1].id if len(found) > PER_PAGE else None,
        running=running.id if running else None,
    )


def _audited(store: Store, revision: Revision) -> list[AuditEntry]:
    """The audit entries that name ``revision``: the reload or apply that recorded it."""
    since = revision.applied_at - _SKEW
    out: list[AuditEntry] = []
    for action in ("estate.apply", "estate.reload"):
        entries = store.audit.list(AuditFilter(since=since, action=action), 200)
        out += [e for e in entries if e.details.get("revision") == revision.id]
    return sorted(out, key=lambda e: e.seq)


def _revision_view(store: Store, revision_id: int) -> dict[str, Any]:
    revision = store.revisions.get(revision_id)
    return {"revision": revision, "before": previous(store, revision)}


@router.get("/revisions/{revision_id}")
async def revision_page(
    request: Request, viewer: Signed, revision_id: Id, page: PageNumber = 1
) -> Response:
    await require(request, viewer, "revisions.get")
    await require(request, viewer, "estate.read")
    store: Store = request.app.state.runtime.store
    view = await run_in_threadpool(_revision_view, store, revision_id)
    revision, before = view["revision"], view["before"]
    shown = paged(request, changes(revision, before), page)  # only a page's YAML is diffed
    diffs = await run_in_threadpool(diff, store, revision, before, shown.items)
    entries = []
    if may(viewer, "audit.list"):  # the audit log is a platform admin's
        entries = await run_in_threadpool(_audited, store, revision)
    return html(
        request,
        "revision.html",
        viewer,
        **view,
        counts=_counts(revision),
        shown=shown,
        diffs=diffs,
        hidden=sum(1 for d in diffs if not d.shown),
        entries=entries,
    )
