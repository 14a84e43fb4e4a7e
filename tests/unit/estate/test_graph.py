"""The estate as a typed graph: nodes, edges, impact sets and the three text forms."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from interlink.estate.graph import Edge, Graph, build_graph
from interlink.estate.links import EDGE_TYPES
from interlink.estate.loader import load_estate
from tests.unit.estate.helpers import RETAIL, write

SMALL = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: t}
---
apiVersion: interlink/v1
kind: System
metadata: {name: a, owner: t, title: System A}
spec: {domain: d, baseUrl: http://a.internal}
---
apiVersion: interlink/v1
kind: System
metadata: {name: b, owner: t}
spec: {domain: d, baseUrl: http://b.internal}
---
apiVersion: interlink/v1
kind: Api
metadata: {name: api-a}
spec: {system: a, contract: api-a.yaml}
---
apiVersion: interlink/v1
kind: Event
metadata: {name: ev}
spec: {system: a, schemas: [{version: 1, file: ev.json}]}
---
apiVersion: interlink/v1
kind: Route
metadata: {name: r}
spec:
  api: api-a
  match: {path: /a}
  upstreams: [{system: a}]
---
apiVersion: interlink/v1
kind: Plan
metadata: {name: p}
---
apiVersion: interlink/v1
kind: Consumer
metadata: {name: c}
spec: {plan: p, system: b}
---
apiVersion: interlink/v1
kind: Subscription
metadata: {name: s}
spec: {event: ev, target: {system: b}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: f}
spec:
  trigger: {event: ev}
  steps:
    - {name: get-a, type: call, system: a, method: GET, path: /x}
    - name: put-b
      type: call
      system: b
      method: PUT
      path: /y
      compensate: {system: b, method: DELETE, path: /y}
    - {name: look, type: enrich, from: {api: api-a, path: /z}, into: z}
    - {name: tell, type: publish, event: ev}
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: dp}
spec:
  domain: d
  source: {system: b, type: sql, location: t}
  contract: {columns: [{name: id, type: string}]}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: f2}
spec:
  trigger: {manual: true}
  steps:
    - {name: read, type: enrich, from: {dataProduct: dp}, into: x}
---
apiVersion: interlink/v1
kind: Monitor
metadata: {name: m}
spec:
  target: {kind: Route, name: r}
  type: anomaly
  anomaly: {}
  notify: [t]
"""

EXPECTED_EDGES = {
    ("Team/t", "System/a", "owns"),
    ("Team/t", "System/b", "owns"),
    ("System/a", "Api/api-a", "exposes"),
    ("System/a", "Event/ev", "publishes"),
    ("Route/r", "Api/api-a", "routes-to"),
    ("Route/r", "System/a", "routes-to"),
    ("Consumer/c", "Plan/p", "uses"),
    ("System/b", "Consumer/c", "uses"),
    ("Subscription/s", "Event/ev", "subscribes"),
    ("Subscription/s", "System/b", "calls"),
    ("Flow/f", "Event/ev", "subscribes"),
    ("Flow/f", "System/a", "reads"),
    ("Flow/f", "System/b", "writes"),
    ("Flow/f", "Api/api-a", "reads"),
    ("Flow/f", "Event/ev", "publishes"),
    ("DataProduct/dp", "System/b", "reads"),
    ("Flow/f2", "DataProduct/dp", "reads"),
    ("Monitor/m", "Route/r", "watches"),
    ("Monitor/m", "Team/t", "notifies"),
}


@pytest.fixture
def graph(tmp_path: Path) -> Graph:
    write(tmp_path, "estate.yaml", SMALL)
    estate, findings = load_estate(tmp_path)
    assert findings == []
    return build_graph(estate)


def test_every_object_is_a_node(graph: Graph) -> None:
    assert sorted(graph.nodes) == [
        "Api/api-a",
        "Consumer/c",
        "DataProduct/dp",
        "Event/ev",
        "Flow/f",
        "Flow/f2",
        "Monitor/m",
        "Plan/p",
        "Route/r",
        "Subscription/s",
        "System/a",
        "System/b",
        "Team/t",
    ]
    node = graph.nodes["System/a"]
    assert (node.kind, node.name, node.owner, node.title) == ("System", "a", "t", "System A")


def test_api_and_event_nodes_inherit_the_owner_of_their_system(graph: Graph) -> None:
    assert graph.nodes["Api/api-a"].owner == "t"
    assert graph.nodes["Event/ev"].owner == "t"
    assert graph.nodes["Route/r"].owner is None


def test_every_reference_is_an_edge_in_the_right_direction(graph: Graph) -> None:
    assert {(e.source, e.target, e.type) for e in graph.edges} == EXPECTED_EDGES
    assert len(graph.edges) == len(EXPECTED_EDGES)  # the compensating call adds no second edge
    assert graph.edges == sorted(graph.edges)


def test_edge_types_cover_the_design(graph: Graph) -> None:
    types = {e.type for e in graph.edges}
    assert {
        "owns",
        "exposes",
        "routes-to",
        "publishes",
        "subscribes",
        "calls",
        "reads",
        "writes",
    } <= types
    assert types <= set(EDGE_TYPES)


def test_in_and_out_edges(graph: Graph) -> None:
    assert {e.target for e in graph.out_edges("Route/r")} == {"Api/api-a", "System/a"}
    assert {e.source for e in graph.in_edges("Event/ev")} == {
        "System/a",
        "Subscription/s",
        "Flow/f",
    }
    assert graph.out_edges("Plan/p") == []


def test_dependents_are_the_transitive_impact_set_nearest_first(graph: Graph) -> None:
    # breadth first: what reads, writes or calls System/b, then what depends on those
    assert graph.dependents("System/b") == ["DataProduct/dp", "Flow/f", "Subscription/s", "Flow/f2"]
    # a Plan's consumers, the system that is that consumer, and so on outwards
    assert graph.dependents("Plan/p") == [
        "Consumer/c",
        "System/b",
        "DataProduct/dp",
        "Flow/f",
        "Subscription/s",
        "Flow/f2",
    ]


def test_dependents_leave_out_owners_monitors_and_notified_teams(graph: Graph) -> None:
    assert graph.dependents("Route/r") == []
    assert graph.dependents("Team/t") == []
    assert "Team/t" not in graph.dependents("System/a")
    assert "Monitor/m" not in graph.dependents("System/a")


def test_dependents_of_an_api(graph: Graph) -> None:
    assert set(graph.dependents("Api/api-a")) >= {"Route/r", "Flow/f"}
    assert "Api/api-a" not in graph.dependents("Api/api-a")


def test_dependents_survive_cycles() -> None:
    cyclic = Graph(
        edges=[Edge("A", "B", "calls"), Edge("B", "A", "calls"), Edge("C", "A", "reads")]
    )
    assert cyclic.dependents("A") == ["B", "C"]
    assert cyclic.dependents("B") == ["A", "C"]


def test_edges_to_missing_objects_are_left_out(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "apiVersion: interlink/v1\nkind: System\nmetadata: {name: a, owner: ghost}\n"
        "spec: {domain: d}\n",
    )
    estate, _ = load_estate(tmp_path)
    graph = build_graph(estate)
    assert list(graph.nodes) == ["System/a"]
    assert graph.edges == []


def test_json_round_trips(graph: Graph) -> None:
    data = graph.to_json()
    again = json.loads(json.dumps(data))
    assert again == data
    ids = {node["id"] for node in again["nodes"]}
    assert ids == set(graph.nodes)
    assert {(e["source"], e["target"], e["type"]) for e in again["edges"]} == EXPECTED_EDGES
    assert all(e["source"] in ids and e["target"] in ids for e in again["edges"])
    first = next(n for n in again["nodes"] if n["id"] == "System/a")
    assert first == {
        "id": "System/a",
        "kind": "System",
        "name": "a",
        "owner": "t",
        "title": "System A",
    }


def test_dot_has_one_line_per_edge(graph: Graph) -> None:
    dot = graph.to_dot()
    lines = dot.splitlines()
    assert lines[0] == "digraph estate {"
    assert lines[-1] == "}"
    assert dot.endswith("}\n")
    edge_lines = [line for line in lines if " -> " in line]
    assert len(edge_lines) == len(graph.edges)
    assert '  "Route/r" -> "Api/api-a" [label="routes-to"];' in edge_lines
    node_lines = [line for line in lines if "[label=" in line and " -> " not in line]
    assert len(node_lines) == len(graph.nodes)
    assert '  "System/a" [label="System\\na"];' in node_lines
    assert dot.count("{") == dot.count("}")


def test_mermaid_is_a_flowchart(graph: Graph) -> None:
    mermaid = graph.to_mermaid()
    lines = mermaid.splitlines()
    assert mermaid.startswith("flowchart LR\n")
    edge_lines = [line for line in lines if "-->" in line]
    assert len(edge_lines) == len(graph.edges)
    assert "  Route_r -->|routes-to| Api_api_a" in edge_lines
    node_lines = [line for line in lines[1:] if "-->" not in line]
    assert len(node_lines) == len(graph.nodes)
    assert '  Event_ev["Event: ev"]' in node_lines
    identifier = re.compile(r"^[A-Za-z0-9_]+$")
    for line in edge_lines:
        source, _, target = line.strip().partition(" -->|")
        assert identifier.match(source)
        assert identifier.match(target.split("| ")[1])


def test_mermaid_identifiers_of_dotted_names_stay_distinct(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: a.b}\n---\n"
        "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: a-c}\n",
    )
    estate, _ = load_estate(tmp_path)
    mermaid = build_graph(estate).to_mermaid()
    assert "Team_a_b[" in mermaid
    assert "Team_a_c[" in mermaid


def test_the_retail_graph() -> None:
    estate, findings = load_estate(RETAIL)
    assert findings == []
    graph = build_graph(estate)
    assert len(graph.nodes) == 53
    edges = {(e.source, e.target, e.type) for e in graph.edges}
    assert ("Team/sales", "System/crm", "owns") in edges
    assert ("System/crm", "Api/customers-v1", "exposes") in edges
    assert ("Route/customers", "System/crm-legacy", "routes-to") in edges
    assert ("Route/address-changes", "Event/customer.address-updated", "publishes") in edges
    assert ("Subscription/erp-address-sync", "Flow/address-sync", "calls") in edges
    assert ("Flow/address-sync", "System/erp", "writes") in edges
    assert ("DataProduct/customer-addresses", "System/crm", "reads") in edges
    assert ("Glossary/sales", "Event/customer.address-updated", "describes") in edges
    impact = graph.dependents("Event/customer.address-updated")
    assert {
        "Subscription/logistics-address-updates",
        "Subscription/analytics-address-updates",
        "Subscription/erp-address-sync",  # which feeds Flow/address-sync
    } <= set(impact)
    assert "Glossary/sales" not in impact  # a term naming the event does not fail with it
    assert json.loads(json.dumps(graph.to_json()))["nodes"]
