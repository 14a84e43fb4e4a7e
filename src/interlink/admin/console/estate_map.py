"""The console's estate map: the Systems, Apis, Events, Flows and DataProducts as the estate
graph has them, with the references the estate declares between them and the connections the
platform observed (the inventory's, in a window), told apart; filtered by owning Team and by
domain. Drawn on the server as SVG, one column per kind, and listed as a table of edges.

A node's domain is its own (System, DataProduct) or its System's (Api, Event); a Flow has
none, so under a domain filter a Flow is shown when it is linked to a node that is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from interlink.admin import inventory
from interlink.admin.console.access import require
from interlink.admin.console.render import html
from interlink.admin.console.session import Signed
from interlink.estate.graph import Graph
from interlink.estate.model import Estate
from interlink.observe.inventory import Connection

router = APIRouter(include_in_schema=False)

#: The kinds drawn, one column each, left to right; "Other" holds an observed edge's far end.
KINDS: Final = ("System", "Api", "Event", "Flow", "DataProduct")
OTHER: Final = "Other"
#: Graph edges that are not dependencies between the kinds drawn.
SKIPPED: Final = frozenset({"owns", "notifies", "watches", "describes"})
#: Past this many nodes only the list of edges is shown: a drawing that large is unreadable.
MAX_DRAWN: Final = 400
#: At most this many edges are listed (the busiest observed first): past it, the page says so
#: and points to the filters. Ten thousand Consumers seen calling would list twenty thousand.
MAX_LISTED: Final = 500
COLUMN, ROW, WIDTH, HEIGHT = 230, 34, 200, 26
#: The console page a node of each kind leads to, under /console ("{}": its quoted name).
PAGES: Final = {
    "System": "/catalog?q={}",
    "Api": "/catalog?q={}",
    "Event": "/catalog?q={}",
    "Flow": "/flows/{}",
    "DataProduct": "/products#product-{}",
    "Route": "/routes/{}",
    "Consumer": "/consumers?q={}",
    "Subscription": "/subscriptions/{}",
}


@dataclass
class MapNode:
    key: str
    kind: str
    name: str
    owner: str | None
    domain: str | None
    x: int = 0
    y: int = 0

    @property
    def href(self) -> str | None:
        """The console page of this node (under /console), or None for a kind without one."""
        kind, _, name = self.key.partition("/")  # an observed far end's kind is in its key
        page = PAGES.get(kind)
        return None if page is None or not name else page.format(quote(name, safe=""))


@dataclass(frozen=True)
class MapEdge:
    source: str
    target: str
    label: str  # the reference's type, or the observed connection's kind
    declared: bool  # an estate reference; else an observed connection
    undeclared: bool = False  # observed with no declaration covering it
    count: int = 0  # observed: in the window


@dataclass
class EstateMap:
    nodes: dict[str, MapNode] = field(default_factory=dict)
    edges: list[MapEdge] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)  # of every node, for the filter

    @property
    def drawn(self) -> bool:
        return 0 < len(self.nodes) <= MAX_DRAWN

    @property
    def listed(self) -> list[MapEdge]:
        """The edges listed: every one, or past :data:`MAX_LISTED` the declared ones and the
        busiest observed ones."""
        if len(self.edges) <= MAX_LISTED:
            return self.edges
        return sorted(self.edges, key=lambda e: (not e.declared, -e.count))[:MAX_LISTED]

    def columns(self) -> list[tuple[str, list[MapNode]]]:
        kinds = [*KINDS, OTHER]
        return [(k, [n for n in self.nodes.values() if n.kind == k]) for k in kinds]

    def path(self, edge: MapEdge) -> str:
        """The SVG path of ``edge``: a curve between the facing sides of its two nodes (the
        right sides, when they share a column)."""
        a, b = self.nodes[edge.source], self.nodes[edge.target]
        y1, y2 = a.y + HEIGHT // 2, b.y + HEIGHT // 2
        if a.x == b.x:
            x1 = x2 = a.x + WIDTH
            return f"M{x1},{y1} C{x1 + 40},{y1} {x2 + 40},{y2} {x2},{y2}"
        step = 1 if a.x < b.x else -1
        x1 = a.x + WIDTH if step == 1 else a.x
        x2 = b.x if step == 1 else b.x + WIDTH
        bend = step * max(abs(x2 - x1) // 3, 20)
        return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"

    def size(self) -> tuple[int, int]:
        tallest = max((len(nodes) for _, nodes in self.columns()), default=0)
        return len(KINDS) * COLUMN + WIDTH + 20, 40 + tallest * ROW


def _domain(estate: Estate, kind: str, name: str) -> str | None:
    item = estate.get(kind, name)
    spec = None if item is None else getattr(item.obj, "spec", None)
    if spec is None:
        return None
    if kind in ("System", "DataProduct"):
        return getattr(spec, "domain", None)
    system = getattr(spec, "system", None) if kind in ("Api", "Event") else None
    return None if system is None else _domain(estate, "System", system)


def _matches(node: MapNode, team: str, domain: str) -> bool:
    return (not team or node.owner == team) and (not domain or node.domain == domain)


def build_map(
    estate: Estate, graph: Graph, seen: list[Connection], team: str = "", domain: str = ""
) -> EstateMap:
    """The map of ``graph`` and the observed connections ``seen``, of ``team`` and
    ``domain`` (empty: any)."""
    every = {
        k: MapNode(k, n.kind, n.name, n.owner, _domain(estate, n.kind, n.name))
        for k, n in graph.nodes.items()
        if n.kind in KINDS
    }
    shown = {k for k, n in every.items() if _matches(n, team, domain)}
    declared = [
        MapEdge(e.source, e.target, e.type, True)
        for e in graph.edges
        if e.type not in SKIPPED and e.source in every and e.target in every
    ]
    observed = [
        MapEdge(c.source, c.target, c.kind, False, c.undeclared, c.count)
        for c in seen
        if c.observed and c.source and c.target
    ]
    if domain:  # a Flow has no domain: shown when linked to what is
        for e in declared + observed:
            for a, b in ((e.source, e.target), (e.target, e.source)):
                flow = every.get(a)
                if flow and flow.kind == "Flow" and b in shown and team in ("", flow.owner):
                    shown.add(a)
    found = EstateMap()
    for edge in declared + observed:
        if edge.source in shown or edge.target in shown:
            found.edges.append(edge)
    ends = shown | {k for e in found.edges for k in (e.source, e.target)}
    for key in sorted(ends):
        found.nodes[key] = every.get(key) or MapNode(key, OTHER, key, None, None)
    found.domains = sorted({n.domain for n in every.values() if n.domain})
    _place(found)
    return found


def _place(found: EstateMap) -> None:
    for column, (_, nodes) in enumerate(found.columns()):
        for row, node in enumerate(sorted(nodes, key=lambda n: n.name)):
            node.x, node.y = 10 + column * COLUMN, 30 + row * ROW


Text = Annotated[str, Query(max_length=100)]


@router.get("/map")
async def map_page(
    request: Request,
    viewer: Signed,
    team: Text = "",
    domain: Text = "",
    since: Annotated[str, Query(max_length=20)] = "7d",
) -> Response:
    await require(request, viewer, "graph.read")
    await require(request, viewer, "inventory.read")
    runtime = request.app.state.runtime
    snapshot = runtime.snapshot
    graph = await run_in_threadpool(lambda: snapshot.graph)  # built on first use
    inv = await inventory.inventory_of(request, since)  # one read of the store's counts
    estate: Estate = snapshot.estate
    found = build_map(estate, graph, inv.connections, team.strip(), domain.strip())
    return html(
        request,
        "map.html",
        viewer,
        map=found,
        teams=sorted(estate.names("Team")),
        team=team,
        domain=domain,
        since=since,
        width=WIDTH,
        height=HEIGHT,
    )
