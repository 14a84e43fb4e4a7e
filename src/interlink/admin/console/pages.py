"""The console's pages, each built from what the admin endpoint behind it answers: the same
functions, called in-process, with the same permission (access.py) checked first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from interlink.admin import alerts, audit, flows, inventory, monitors, operations, registry
from interlink.admin.console.access import may, require
from interlink.admin.console.paging import PageNumber, matches, paged
from interlink.admin.console.render import NAV, html
from interlink.admin.console.session import BASE, Signed, Viewer
from interlink.admin.console.slo_budgets import budgets
from interlink.admin.console.step_chart import chart
from interlink.admin.console.typed_search import inventory_of as _typed_inventory
from interlink.admin.owners import dead_letters as dead_letter_owners
from interlink.admin.owners import flow as flow_owner
from interlink.admin.owners import silenced
from interlink.admin.params import DeliveryId, Id
from interlink.errors import NotFound
from interlink.estate.kinds import Api, Route, System
from interlink.estate.model import Estate
from interlink.estate.subscriptions import subscriptions as estate_subscriptions
from interlink.flows.control import RETRYABLE
from interlink.flows.runs import Status
from interlink.observe.inventory import Connection, inventory_csv

router = APIRouter(include_in_schema=False)

#: What a finished action says on the page it returns to, by the code its address carries.
DONE: Final = {
    "retried": "Dead letter {id} was sent again from its first attempt.",
    "discarded": "Dead letter {id} was discarded.",
}
RUN_DONE: Final = {
    "retried": "The run was started again.",
    "cancelled": "The run was cancelled: it stops at its next step boundary.",
}
SILENCE_DONE: Final = {
    "silenced": "Silence {id} was added: the alerts it covers notify nobody until it ends.",
    "lifted": "Silence {id} was lifted.",
}
Text = Annotated[str, Query(max_length=200)]


def _estate(request: Request) -> Estate:
    estate: Estate = request.app.state.runtime.snapshot.estate
    return estate


@router.get("/")
async def home(request: Request, viewer: Signed) -> Response:
    """The first page the viewer may read."""
    for path, _, action in NAV:
        if may(viewer, action):
            return RedirectResponse(BASE + path, status_code=303)
    return html(
        request,
        "error.html",
        viewer,
        status=403,
        heading="Nothing to show",
        message="Your token may read none of the console's pages.",
    )


def _systems(estate: Estate) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "title": s.metadata.title or "",
            "domain": s.spec.domain,
            "owner": estate.owner_of(s),
            "description": s.metadata.description,
        }
        for s in sorted(estate.of(System), key=lambda s: s.name)
    ]


def _apis(estate: Estate) -> list[dict[str, Any]]:
    routes: dict[str, list[str]] = {}  # grouped once: a thousand routes, not a scan per Api
    for r in estate.of(Route):
        if r.spec.api:
            routes.setdefault(r.spec.api, []).append(r.name)
    return [
        {
            "name": a.name,
            "system": a.spec.system,
            "owner": estate.owner_of(a),
            "version": a.spec.version,
            "contract": a.spec.contract,
            "lifecycle": a.spec.lifecycle.value,
            "sunset": a.spec.sunset,
            "successor": a.spec.successor,
            "routes": sorted(routes.get(a.name, [])),
        }
        for a in sorted(estate.of(Api), key=lambda a: a.name)
    ]


@router.get("/catalog")
async def catalog(
    request: Request,
    viewer: Signed,
    q: Text = "",
    systems_page: PageNumber = 1,
    apis_page: PageNumber = 1,
    events_page: PageNumber = 1,
) -> Response:
    await require(request, viewer, "estate.read")
    await require(request, viewer, "events.list")
    estate = _estate(request)
    consumers: dict[str, list[Any]] = {}
    for sub in estate_subscriptions(estate):
        consumers.setdefault(sub.spec.event, []).append(sub)

    def found(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if matches(q, r["name"], r["owner"])]

    events = [e for e in await registry.list_events(request) if matches(q, e.name, e.owner)]
    return html(
        request,
        "catalog.html",
        viewer,
        q=q,
        systems=paged(request, found(_systems(estate)), systems_page, "systems_page"),
        apis=paged(request, found(_apis(estate)), apis_page, "apis_page"),
        events=paged(request, events, events_page, "events_page"),
        consumers=consumers,
        owner_of=estate.owner_of,
    )


InventoryKind = inventory.Kind


def _matches(conn: Connection, text: str) -> bool:
    # The fields themselves, not to_json(): the inventory may hold a million rows.
    return matches(text, conn.kind, conn.source, conn.target, conn.via, conn.owner, conn.trigger)


Flag = Literal["", "undeclared", "unused"]


@dataclass(frozen=True)
class InventoryFilter:
    """The inventory's filters as its form sends them: every field, empty for "any"."""

    q: str
    kind: InventoryKind | Literal[""]
    since: str
    flag: Flag


def _inventory_filter(
    q: Text = "",
    kind: InventoryKind | Literal[""] = "",
    since: Annotated[str, Query(max_length=20)] = "7d",
    flag: Flag = "",
) -> InventoryFilter:
    return InventoryFilter(q, kind, since, flag)


Filtered = Annotated[InventoryFilter, Depends(_inventory_filter)]


async def _connections(
    request: Request, f: InventoryFilter, *, typed: bool = False
) -> tuple[Any, list[Connection]]:
    inv = await _typed_inventory(request, f.since, typed=typed)
    rows = inv.filtered(
        undeclared=f.flag == "undeclared", unused=f.flag == "unused", kind=f.kind or None
    )
    return inv, [c for c in rows if _matches(c, f.q)]


@router.get("/inventory")
async def inventory_page(
    request: Request, viewer: Signed, f: Filtered, page: PageNumber = 1
) -> Response:
    await require(request, viewer, "inventory.read")
    partial = request.headers.get("hx-target") == "inventory-rows"  # the search, as typed
    inv, rows = await _connections(request, f, typed=partial)
    shown = paged(request, rows, page)
    return html(
        request,
        "inventory_rows.html" if partial else "inventory.html",
        viewer,
        rows=[c.to_json() for c in shown.items],
        shown=shown,
        summary=inv.summary(),
        filter=f,
        kinds=get_args(InventoryKind),
        query=request.url.query,
    )


@router.get("/inventory.csv")
async def inventory_download(request: Request, viewer: Signed, f: Filtered) -> Response:
    await require(request, viewer, "inventory.read")
    _, rows = await _connections(request, f)
    return Response(
        inventory_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="inventory.csv"'},
    )


async def _subscriptions(request: Request) -> tuple[list[dict[str, Any]], str | None]:
    """The subscriptions with their figures, or why there are none in this process."""
    try:
        return await operations.subscriptions(request), None
    except NotFound as exc:
        return [], exc.message


def _with_actions(viewer: Viewer, estate: Estate, items: list[dict[str, Any]]) -> None:
    for item in items:
        owners = dead_letter_owners(estate, None, [item["id"]])
        item["may_retry"] = may(viewer, "dlq.retry", owners)
        item["may_discard"] = may(viewer, "dlq.discard", owners)


@router.get("/subscriptions")
async def subscriptions_page(
    request: Request,
    viewer: Signed,
    subscription: Text | None = None,
    cursor: Text | None = None,
    done: str = "",
    id: DeliveryId | None = None,
) -> Response:
    await require(request, viewer, "subscriptions.list")
    await require(request, viewer, "dlq.list")
    subs, missing = await _subscriptions(request)
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    if missing is None:
        page = await operations.dead_letters(request, subscription, 50, cursor)
        _with_actions(viewer, _estate(request), page["items"])
    notice = DONE[done].format(id=id) if done in DONE and id else None
    return html(
        request,
        "subscriptions.html",
        viewer,
        subscriptions=subs,
        missing=missing,
        dead=page["items"],
        next_cursor=page["next_cursor"],
        subscription=subscription,
        notice=notice,
    )


@router.get("/dlq/{delivery_id}")
async def dead_letter_page(request: Request, viewer: Signed, delivery_id: DeliveryId) -> Response:
    await require(request, viewer, "dlq.get")
    item = await operations.dead_letter(request, delivery_id)
    _with_actions(viewer, _estate(request), [item])
    return html(request, "dead_letter.html", viewer, item=item)


@router.get("/runs")
async def runs_page(
    request: Request,
    viewer: Signed,
    flow: Text | None = None,
    status: Status | Literal[""] = "",
    cursor: Text | None = None,
) -> Response:
    await require(request, viewer, "runs.list")
    page = await flows.runs(request, flow or None, status or None, 50, cursor)
    return html(
        request,
        "runs.html",
        viewer,
        runs=page["items"],
        next_cursor=page["next_cursor"],
        flow=flow or "",
        run_status=status or "",
        statuses=get_args(Status),
    )


@router.get("/runs/{run_id}")
async def run_page(
    request: Request,
    viewer: Signed,
    run_id: Annotated[str, Path(max_length=100)],
    done: str = "",
) -> Response:
    await require(request, viewer, "runs.get")
    run = await flows.run(request, run_id)
    owner = [flow_owner(_estate(request), run["flow"])]
    return html(
        request,
        "run.html",
        viewer,
        run=run,
        timeline=timeline(run),
        chart=chart(run),
        may_retry=run["status"] in RETRYABLE and may(viewer, "runs.retry", owner),
        may_cancel=run["status"] in ("running", "waiting") and may(viewer, "runs.cancel", owner),
        notice=RUN_DONE.get(done),
    )


def timeline(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Each step with its start and its length in seconds from the run's start."""
    start = datetime.fromisoformat(run["started_at"])
    out = []
    for step in run["steps"]:
        began = (datetime.fromisoformat(step["started_at"]) - start).total_seconds()
        out.append({**step, "offset": round(max(began, 0.0), 3)})
    return out


@router.get("/audit")
async def audit_page(
    request: Request,
    viewer: Signed,
    who: Text | None = None,
    after: Annotated[int, Query(ge=0, le=2**53)] = 0,
) -> Response:
    await require(request, viewer, "audit.list")
    page = await audit.entries(request, None, None, who or None, after, 100)
    return html(
        request,
        "audit.html",
        viewer,
        entries=page.entries,
        next_after=page.next_after,
        who=who or "",
    )


@router.get("/monitors")
async def monitors_page(
    request: Request,
    viewer: Signed,
    state: Literal["firing", "resolved", "all"] = "firing",
    done: str = "",
    silence: Annotated[Id | None, Query()] = None,
) -> Response:
    await require(request, viewer, "monitors.list")
    await require(request, viewer, "alerts.list")
    await require(request, viewer, "silences.list")
    found = await monitors.monitors(request)
    estate = _estate(request)
    held = (await alerts.silences(request))["silences"]
    for s in held:
        s["may_lift"] = may(viewer, "silences.lift", silenced(estate, s["monitor"], s["target"]))
    notice = SILENCE_DONE[done].format(id=silence) if done in SILENCE_DONE and silence else None
    return html(
        request,
        "monitors.html",
        viewer,
        monitors=found.monitors,
        alerts=(await alerts.alerts(request, state, 100))["alerts"],
        silences=held,
        silenceable=[
            m.name
            for m in found.monitors
            if may(viewer, "silences.add", silenced(estate, m.name, None))
        ],
        alert_state=state,
        notice=notice,
        budgets=await run_in_threadpool(budgets, request.app.state.runtime.store, estate),
    )
