"""The console's data products page: each product's contract (columns, PII, masking), mode,
freshness and refresh rule as the estate declares them, with its latest refresh and the
contract rules that refresh found broken (the quality results), read from the store at once
for every product."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from interlink.admin.console.access import require
from interlink.admin.console.render import html
from interlink.admin.console.session import Signed
from interlink.estate.kinds import DataProduct
from interlink.estate.model import Estate, Loaded
from interlink.estate.product_rules import contract_of
from interlink.products.history import RefreshHistory, RefreshRecord, record_json

router = APIRouter(include_in_schema=False)


def _columns(item: Loaded, masks: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """The contract's columns (its ODCS file read in), or why they could not be read."""
    try:
        contract = contract_of(item)
    except ValueError as exc:
        return [], str(exc)
    return [
        {
            "name": c.name,
            "type": c.type.value,
            "nullable": c.nullable,
            "pii": c.pii,
            "unique": c.unique,
            "mask": masks.get(c.name),
            "description": c.description,
        }
        for c in contract.columns
    ], None


def product_view(estate: Estate, item: Loaded, last: RefreshRecord | None) -> dict[str, Any]:
    product = item.obj
    assert isinstance(product, DataProduct)
    spec = product.spec
    masks = {m.column: m.method.value for m in spec.masking}
    columns, broken = _columns(item, masks)
    return {
        "name": product.name,
        "title": product.metadata.title or "",
        "description": product.metadata.description,
        "owner": estate.owner_of(product),
        "domain": spec.domain,
        "mode": spec.mode.value,
        "source": " of ".join(str(p) for p in (spec.source.type, spec.source.system) if p),
        "freshness": spec.freshness,
        "refresh": spec.refresh,
        "pii_categories": [str(c) for c in spec.pii_categories],
        "columns": columns,
        "contract_error": broken,
        "last": None if last is None else record_json(last),
    }


@router.get("/products")
async def products_page(request: Request, viewer: Signed) -> Response:
    await require(request, viewer, "estate.read")
    runtime = request.app.state.runtime
    estate: Estate = runtime.snapshot.estate
    latest = await run_in_threadpool(RefreshHistory(runtime.store.db).latest)
    items = sorted(estate.loaded_of("DataProduct"), key=lambda i: i.obj.metadata.name)
    views = [product_view(estate, item, latest.get(item.obj.metadata.name)) for item in items]
    return html(request, "products.html", viewer, products=views)
