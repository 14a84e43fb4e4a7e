"""Data products on the admin API: refresh a materialised one now, on this node.

Refreshing needs operator, of the product's owning Team for a team-scoped token
(permissions.py). The refresh is the one ``interlink products refresh`` and the schedule run:
recorded in the store, the last good data kept serving when it fails (the failure is the
answer, as a problem).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from interlink.admin.audited import audited, audited_route
from interlink.admin.auth import Granted
from interlink.admin.lookup import known
from interlink.errors import NotFound
from interlink.products.history import record_json
from interlink.products.service import Products

router = APIRouter()


@router.post(
    "/api/v1/products/{name}/refresh",
    tags=["products"],
    openapi_extra=audited_route("product.refresh"),
)
async def refresh(request: Request, name: str, who: Granted) -> dict[str, Any]:
    """Refresh materialised product ``name`` now and answer with the refresh recorded."""
    runtime = request.app.state.runtime
    products: Products | None = getattr(runtime, "products", None)
    async with audited(request, who, "product.refresh", f"product/{name}") as outcome:
        known("DataProduct", name, runtime.snapshot.estate.names("DataProduct"))
        if products is None:
            raise NotFound("data products are not running in this process")
        record = await products.refresh(name)
        answer = {"product": name, **record_json(record)}
        outcome.details["status"] = answer.get("status")
    return answer
