"""The console's data products page: each product's contract (columns, PII, masking), mode,
freshness and refresh rule as the estate declares them, with its latest refresh and the
contract rules that refresh found broken (the quality results), read from the store at once
for every product. Each rule's last outcome and the data's age are product_quality.py's; a
masked sample is read only when asked (product_sample.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from interlink.admin.console.access import may, require
from interlink.admin.console.product_quality import checks, freshness_now
from interlink.admin.console.render import html
from interlink.admin.console.session import Signed, Viewer
from interlink.admin.owners import Owned
from interlink.admin.product_sample import SIZES
from interlink.estate.kinds import DataProduct
from interlink.estate.kinds.data import ProductMode
from interlink.estate.model import Estate, Loaded
from interlink.estate.product_rules import contract_of
from interlink.products.history import RefreshHistory, RefreshRecord, record_json

router = APIRouter(include_in_schema=False)


def _columns(
    item: Loaded, masks: dict[str, str], last: RefreshRecord | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
    """The contract's columns (its ODCS file read in) and its rules' last outcomes, or why
    they could not be read."""
    try:
        contract = contract_of(item)
    except ValueError as exc:
        return [], [], str(exc)
    product = item.obj
    assert isinstance(product, DataProduct)
    virtual = product.spec.mode is ProductMode.VIRTUAL
    rules = checks(contract, product.spec.freshness, virtual, last)
    return (
        [
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
        ],
        rules,
        None,
    )


def product_view(
    estate: Estate,
    item: Loaded,
    last: RefreshRecord | None,
    good: RefreshRecord | None,
    viewer: Viewer,
    now: datetime,
) -> dict[str, Any]:
    product = item.obj
    assert isinstance(product, DataProduct)
    spec = product.spec
    masks = {m.column: m.method.value for m in spec.masking}
    columns, rules, broken = _columns(item, masks, last)
    owner = Owned(f"DataProduct/{product.name}", estate.owner_of(product))
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
        "checks": rules,
        "age": freshness_now(spec.freshness, good, now),
        "may_sample": may(viewer, "products.sample", [owner]),
        "contract_error": broken,
        "last": None if last is None else record_json(last),
    }


@router.get("/products")
async def products_page(request: Request, viewer: Signed) -> Response:
    await require(request, viewer, "estate.read")
    runtime = request.app.state.runtime
    estate: Estate = runtime.snapshot.estate
    history = RefreshHistory(runtime.store.db)
    latest = await run_in_threadpool(history.latest)
    items = sorted(estate.loaded_of("DataProduct"), key=lambda i: i.obj.metadata.name)
    good = await run_in_threadpool(_last_good, history, latest)
    now = datetime.now(UTC)
    views = []
    for item in items:
        name = item.obj.metadata.name
        views.append(product_view(estate, item, latest.get(name), good.get(name), viewer, now))
    return html(request, "products.html", viewer, products=views, sizes=SIZES)


def _last_good(
    history: RefreshHistory, latest: dict[str, RefreshRecord]
) -> dict[str, RefreshRecord]:
    """Each refreshed product's last good refresh (the data it serves): its latest when that
    one was good, else one more query for each product whose latest refresh failed."""
    good = {name: record for name, record in latest.items() if record.outcome == "ok"}
    for name in latest.keys() - good.keys():
        found = history.last(name, "ok")
        if found is not None:
            good[name] = found
    return good
