"""The estate map of an estate with many observed callers: too many nodes to draw, and the
edges listed capped, declared ones and the busiest observed first."""

from __future__ import annotations

from pathlib import Path

from interlink.admin.console.estate_map import (
    MAX_DRAWN,
    MAX_LISTED,
    OTHER,
    MapNode,
    build_map,
)
from interlink.cli.estate import write_example
from interlink.estate.graph import build_graph
from interlink.estate.loader import load_estate
from interlink.observe.inventory import Connection


def test_many_observed_callers_are_listed_busiest_first_up_to_the_cap(tmp_path: Path) -> None:
    write_example("retail", tmp_path)
    estate, _ = load_estate(tmp_path)
    graph = build_graph(estate)
    callers = MAX_LISTED + 100
    seen = [
        Connection("request", f"Consumer/c-{i:04d}", "System/crm", "Route/customers", count=i + 1)
        for i in range(callers)
    ]
    found = build_map(estate, graph, seen)
    assert len(found.nodes) > MAX_DRAWN
    assert not found.drawn
    assert len(found.edges) > MAX_LISTED
    listed = found.listed
    assert len(listed) == MAX_LISTED
    declared = [e for e in found.edges if e.declared]
    assert declared
    assert listed[: len(declared)] == declared
    counts = [e.count for e in listed[len(declared) :]]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == callers  # the busiest caller's edge
    # A filter lists all of a part: the sales domain's edges fit.
    sales = build_map(estate, graph, [], domain="sales")
    assert sales.listed == sales.edges


def test_every_node_leads_to_its_page(tmp_path: Path) -> None:
    write_example("retail", tmp_path)
    estate, _ = load_estate(tmp_path)
    found = build_map(estate, build_graph(estate), [])
    links = {key: node.href for key, node in found.nodes.items()}
    assert links["System/crm"] == "/catalog?q=crm"
    assert links["Flow/order-saga"] == "/flows/order-saga"
    assert links["DataProduct/orders"] == "/products#product-orders"
    assert all(href is not None for key, href in links.items()), links
    # An observed far end drawn in the "Other" column: its kind is read from its key.
    caller = MapNode("Consumer/acme logistics", OTHER, "Consumer/acme logistics", None, None)
    assert caller.href == "/consumers?q=acme%20logistics"
    assert MapNode("Queue/x", OTHER, "Queue/x", None, None).href is None
