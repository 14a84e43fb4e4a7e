"""The console's gateway routes: every Route with its Api, path, callers, upstream split and
traffic over a window (requests, rate, 5xx share, latency percentiles), fifty to a page and
searched by name, Api or path; and a Route's own page with its charts, its declared and
observed split between upstreams (the strangler fig) and its shadow comparison report.

Traffic is what the gateway records per route and minute for the monitors (store.signals),
read for the routes shown only, in two grouped queries whatever their number; callers and the
observed split are the gateway's hourly observed connections of the one route; comparisons
come from the admin API's own function (admin/routes.py)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from interlink.admin import routes as admin_routes
from interlink.admin.console import route_callers
from interlink.admin.console.access import require
from interlink.admin.console.charts import Series, bar_chart, line_chart, sparkline
from interlink.admin.console.render import html
from interlink.admin.console.session import Signed
from interlink.admin.lookup import known
from interlink.estate.kinds import Route
from interlink.estate.model import Estate
from interlink.observe.route_figures import WINDOWS, Figures, figures, slots
from interlink.runtime.snapshot import Snapshot
from interlink.store import Bucket, Store
from interlink.store.signals import MINUTE

router = APIRouter(include_in_schema=False)

PAGE: Final = 50
Window = Literal["1h", "6h", "24h", "7d"]
Search = Annotated[str, Query(max_length=200)]
#: What a shadow comparison's field says, for the fields that are not a JSON pointer.
FIELD_WORDS: Final = {
    "(status)": "the status codes differed (bodies not compared)",
    "(body)": "the bodies differed (not both JSON, or not parsable)",
    "(root)": "the JSON documents differed as a whole",
}


def matches(route: Route, words: Sequence[str]) -> bool:
    """Whether every word is in the route's name, Api or path (any case)."""
    haystack = " ".join((route.name, route.spec.api or "", route.spec.match.path)).lower()
    return all(w in haystack for w in words)


def split_of(route: Route) -> list[dict[str, Any]]:
    """The upstreams as declared: each primary's weight and share of the requests, then the
    shadows (a copy of every request, compared, never answering)."""
    primaries = [u for u in route.spec.upstreams if not u.shadow]
    total = sum(u.weight for u in primaries)
    out: list[dict[str, Any]] = [
        {"system": u.system, "shadow": False, "weight": u.weight,
         "share": u.weight / total if total else None}
        for u in primaries
    ]  # fmt: skip
    out += [
        {"system": u.system, "shadow": True, "weight": None, "share": None}
        for u in route.spec.upstreams
        if u.shadow
    ]
    return out


def _read_traffic(
    store: Store, names: list[str], since: int, until: int, step: int
) -> tuple[dict[str, Bucket], dict[str, dict[int, Bucket]]]:
    totals = store.signals.totals(since, until, names, "Route")
    series = store.signals.series(since, until, step, names, "Route")
    return {n: b for (_, n), b in totals.items()}, {n: s for (_, n), s in series.items()}


def _span(window: Window) -> tuple[int, int, int]:
    """(since, until, step) of ``window`` ending with the current minute."""
    length, step = WINDOWS[window]
    until = int(time.time()) // MINUTE * MINUTE + MINUTE
    since = until - length
    return since - since % step, until, step


def _row(
    snapshot: Snapshot, route: Route, found: Figures, spark: list[float | None]
) -> dict[str, Any]:
    scopes = route.spec.auth.scopes if route.spec.auth else []
    return {
        "name": route.name,
        "api": route.spec.api,
        "path": route.spec.match.path,
        "methods": route.spec.match.methods or [],
        "split": split_of(route),
        "callers": route_callers.callers(snapshot, scopes),
        "figures": found,
        "spark": sparkline(f"requests of {route.name}: {found.requests} in the window", spark),
    }


@router.get("/routes")
async def routes_page(
    request: Request,
    viewer: Signed,
    q: Search = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    window: Window = "1h",
) -> Response:
    await require(request, viewer, "estate.read")
    await require(request, viewer, "inventory.read")
    snapshot: Snapshot = request.app.state.runtime.snapshot
    estate = snapshot.estate
    words = q.lower().split()
    found = sorted((r for r in estate.of(Route) if matches(r, words)), key=lambda r: r.name)
    pages = max(1, math.ceil(len(found) / PAGE))
    notice = None
    if page > pages:
        notice = f"There is no page {page}: {len(found)} routes make {pages}. This is the last."
        page = pages
    shown = found[(page - 1) * PAGE : page * PAGE]
    since, until, step = _span(window)
    store = request.app.state.runtime.store
    totals, series = await run_in_threadpool(
        _read_traffic, store, [r.name for r in shown], since, until, step
    )
    rows = []
    for route in shown:
        steps = slots(series.get(route.name, {}), since, until, step)
        spark: list[float | None] = [float(b.count) for _, b in steps]
        rows.append(_row(snapshot, route, figures(totals.get(route.name), until - since), spark))
    return html(
        request,
        "routes.html",
        viewer,
        rows=rows,
        q=q,
        page=page,
        pages=pages,
        total=len(found),
        first=(page - 1) * PAGE + 1,
        window=window,
        windows=list(WINDOWS),
        notice=notice,
    )


def _charts(
    name: str, steps: list[tuple[int, Bucket]], span: tuple[int, int], step: int
) -> dict[str, Any]:
    rows = [(start, figures(b, step)) for start, b in steps]
    busiest = max((f.requests for _, f in rows), default=0)
    errors = sum(f.errors for _, f in rows)
    volume = bar_chart(
        "volume",
        f"Requests of {name} per {step // 60} minutes",
        f"Requests per {step // 60}-minute step, the 5xx answers among them drawn over them; "
        f"at most {busiest} in a step, {errors} errors in all. The figures are in the table "
        "below.",
        [
            Series("requests", [(t, f.requests) for t, f in rows], "s1"),
            Series("5xx errors", [(t, f.errors) for t, f in rows], "bad"),
        ],
        span,
        step,
        lambda v: f"{v:g}",
    )
    p95s = [f.p95 for _, f in rows if f.p95 is not None and math.isfinite(f.p95)]
    latency = line_chart(
        "latency",
        f"Latency of {name}",
        "The median (p50) and 95th percentile (p95) latency per step, in milliseconds, "
        "estimated from the latency histogram"
        + (f"; the p95 peaks at {max(p95s) * 1000:.0f} ms." if p95s else "; nothing measured.")
        + " The figures are in the table below.",
        [
            Series("p50", [(t, _ms(f.p50)) for t, f in rows], "s1"),
            Series("p95", [(t, _ms(f.p95)) for t, f in rows], "s2"),
        ],
        span,
        lambda v: f"{v:g} ms",
    )
    table = [(datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M"), f) for t, f in rows]
    return {"volume": volume, "latency": latency, "steps": table}


def _ms(seconds: float | None) -> float | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return round(seconds * 1000, 3)


def _observed_split(rows: list[Any]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Requests per upstream System, and per caller (with their 5xx answers)."""
    systems: dict[str, int] = {}
    callers: dict[str, list[int]] = {}
    for r in rows:
        systems[r.system] = systems.get(r.system, 0) + r.count
        counts = callers.setdefault(r.consumer, [0, 0])
        counts[0] += r.count
        counts[1] += r.errors
    by_caller = [
        {"consumer": c, "requests": n, "errors": e}
        for c, (n, e) in sorted(callers.items(), key=lambda i: (-i[1][0], i[0]))
    ]
    return systems, by_caller


@router.get("/routes/{name}")
async def route_page(
    request: Request,
    viewer: Signed,
    name: Annotated[str, Path(max_length=200)],
    window: Window = "1h",
) -> Response:
    await require(request, viewer, "estate.read")
    await require(request, viewer, "inventory.read")
    await require(request, viewer, "routes.comparison")
    runtime = request.app.state.runtime
    estate: Estate = runtime.snapshot.estate
    known("Route", name, estate.names("Route"))
    loaded = estate.get("Route", name)
    assert loaded is not None
    assert isinstance(loaded.obj, Route)
    route = loaded.obj
    since, until, step = _span(window)
    store: Store = runtime.store
    totals, series = await run_in_threadpool(_read_traffic, store, [name], since, until, step)
    seen = await run_in_threadpool(store.connections.list, datetime.fromtimestamp(since, UTC), name)
    systems, observed_callers = _observed_split(seen)
    observed_total = sum(systems.values())
    split = split_of(route)
    for upstream in split:
        count = systems.get(upstream["system"], 0) if not upstream["shadow"] else None
        upstream["observed"] = count
        upstream["observed_share"] = count / observed_total if count and observed_total else None
    comparison = await admin_routes.comparison(request, name, window, 10)
    scopes = route.spec.auth.scopes if route.spec.auth else []
    steps = slots(series.get(name, {}), since, until, step)
    return html(
        request,
        "route.html",
        viewer,
        route=route,
        owner=estate.owner_of(route),
        figures=figures(totals.get(name), until - since),
        charts=_charts(name, steps, (since, until), step),
        split=split,
        observed_total=observed_total,
        callers=route_callers.callers(runtime.snapshot, scopes),
        observed_callers=observed_callers,
        plans=route_callers.plans(estate, [c["consumer"] for c in observed_callers]),
        comparison=comparison,
        field_words=FIELD_WORDS,
        shadowed=any(u.shadow for u in route.spec.upstreams),
        window=window,
        windows=list(WINDOWS),
    )
