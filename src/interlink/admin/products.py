"""Data products on the admin API: refresh a materialised one now, on this node; read a
masked sample of one (product_sample.py).

Refreshing needs operator, of the product's owning Team for a team-scoped token
(permissions.py). The refresh is the one ``interlink products refresh`` and the schedule run:
recorded in the store, the last good data kept serving when it fails (the failure is the
answer, as a problem).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from interlink.admin.audited import audited, audited_route
from interlink.admin.auth import Granted
from interlink.admin.lookup import known
from interlink.admin.product_sample import SIZES, sample
from interlink.admin.responses import problems
from interlink.errors import NotFound
from interlink.products.history import record_json
from interlink.products.service import Products

router = APIRouter()


@router.post(
    "/api/v1/products/{name}/refresh",
    tags=["products"],
    responses=problems({404: "no such data product, or data products do not run here"}),
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


@router.get(
    "/api/v1/products/{name}/sample",
    tags=["products"],
    responses=problems(
        {
            404: "no such data product, or data products do not run here",
            502: "the product's source cannot be read, or its data breaks the contract",
            503: "a materialised product not refreshed yet",
        }
    ),
)
async def product_sample(
    request: Request,
    name: str,
    who: Granted,
    rows: Annotated[int, Query(ge=1, le=SIZES[-1], description="how many rows")] = SIZES[0],
) -> dict[str, Any]:
    """The first ``rows`` rows of product ``name``, its masking applied whatever the token
    may otherwise see; a read of a PII column is recorded in the lineage."""
    found = await sample(request.app.state.runtime, name, rows, who.token_name, "api")
    return found.json()
