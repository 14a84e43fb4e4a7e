"""The catalog on the admin API: search over the running estate, and one glossary term
(estate/catalog.py). Reading needs the viewer role. The index is built once per revision."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from interlink.estate.catalog import MAX_QUERY, SEARCH_KINDS, Catalog, find_term, term_json
from interlink.estate.model import Estate

router = APIRouter()


def _catalog(state: State, estate: Estate) -> Catalog:
    """The running revision's catalog; a reload's new estate gets a new one."""
    held: Catalog | None = getattr(state, "catalog", None)
    if held is None or held.estate is not estate:
        held = Catalog(estate)
        state.catalog = held
    return held


@router.get("/api/v1/catalog/search", tags=["catalog"])
async def search(
    request: Request,
    q: Annotated[str, Query(max_length=MAX_QUERY, description="the text searched for")],
    kind: Annotated[
        str | None, Query(description="only this kind: " + ", ".join(SEARCH_KINDS))
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    """Systems, APIs, events and their fields, data products and their columns, teams and
    glossary terms matching ``q``, best first, each with what matched and where it is
    written."""
    estate = request.app.state.runtime.snapshot.estate

    def answer() -> dict[str, Any]:
        # Off the loop: the first search of a revision builds the index, and a hit's line is
        # read by parsing its file again.
        catalog = _catalog(request.app.state, estate)
        hits = catalog.search(q, kind=kind, limit=limit)
        root = estate.root.resolve()
        return {"query": q, "results": [h.to_json(root) for h in hits]}

    return await run_in_threadpool(answer)


@router.get("/api/v1/catalog/terms/{name}", tags=["catalog"])
async def term(request: Request, name: str) -> dict[str, Any]:
    """One glossary term (any case, or a synonym) and every place its data is held."""
    estate = request.app.state.runtime.snapshot.estate
    placed = find_term(estate, name)
    return await run_in_threadpool(term_json, placed, estate.root.resolve())
