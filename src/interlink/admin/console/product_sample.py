"""The data products page's masked sample: a product's first rows, read only when asked.

The read is the admin API's (``GET /api/v1/products/NAME/sample``, admin/product_sample.py)
with its permission, ``products.sample``: the product's own masking applied whatever the
token's scopes, the read recorded in the lineage ``via=console`` as the token's. A product
that cannot be read (not refreshed yet, its source down) is a message in the panel.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from interlink.admin.console.access import require
from interlink.admin.console.render import html
from interlink.admin.console.session import Signed
from interlink.admin.lookup import known
from interlink.admin.product_sample import SIZES, sample
from interlink.errors import BadRequest, InterlinkError

router = APIRouter(include_in_schema=False)


@router.get("/products/{name}/sample")
async def product_sample(
    request: Request,
    viewer: Signed,
    name: str,
    rows: Annotated[int, Query(description="how many rows")] = SIZES[0],
) -> Response:
    runtime = request.app.state.runtime
    known("DataProduct", name, runtime.snapshot.estate.names("DataProduct"))
    if rows not in SIZES:
        raise BadRequest(f"a sample is {', '.join(map(str, SIZES))} rows, not {rows}")
    grant = await require(request, viewer, "products.sample")
    status, found, problem = 200, None, None
    try:
        found = await sample(runtime, name, rows, grant.token_name, "console")
    except InterlinkError as exc:  # the product's data cannot be read: said in the panel
        status, problem = exc.status, exc.message
    page = "_product_sample.html" if request.headers.get("hx-request") else "product_sample.html"
    return html(request, page, viewer, status=status, name=name, sample=found, problem=problem)
