"""The console's consumers page: every Consumer of the estate with its type, plan, owner and
the kinds of credential it may present (never a credential itself), searched and paged on the
server, since an estate may declare ten thousand of them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from interlink.admin.console.access import may, require
from interlink.admin.console.paging import PageNumber, matches, paged
from interlink.admin.console.render import html
from interlink.admin.console.session import Signed
from interlink.estate.kinds import Consumer
from interlink.estate.model import Estate

router = APIRouter(include_in_schema=False)


def _row(estate: Estate, consumer: Consumer, keys: Counter[str] | None) -> dict[str, Any]:
    spec = consumer.spec
    kinds = sorted({c.type for c in spec.credentials})
    return {
        "name": consumer.name,
        "type": spec.type.value,
        "plan": spec.plan,
        "owner": estate.owner_of(consumer),
        "scopes": spec.scopes,
        "credentials": kinds,
        "keys": None if keys is None else keys[consumer.name],
    }


@router.get("/consumers")
async def consumers_page(
    request: Request,
    viewer: Signed,
    q: Annotated[str, Query(max_length=200)] = "",
    page: PageNumber = 1,
) -> Response:
    await require(request, viewer, "estate.read")
    runtime = request.app.state.runtime
    estate: Estate = runtime.snapshot.estate
    found = sorted(
        (c for c in estate.of(Consumer) if matches(q, c.name, estate.owner_of(c), c.spec.plan)),
        key=lambda c: c.name,
    )
    shown = paged(request, found, page)
    # How many usable API keys each has: kept in the store, and listed only to whom may list
    # the platform's tokens (an admin), as the CLI lists them.
    keys: Counter[str] | None = None
    if may(viewer, "tokens.list"):
        now = datetime.now(UTC)
        stored = await run_in_threadpool(runtime.store.consumer_keys.list)
        keys = Counter(k.consumer for k in stored if k.usable(now))
    rows = [_row(estate, c, keys) for c in shown.items]
    return html(request, "consumers.html", viewer, rows=rows, shown=shown, q=q, keys=keys)
