"""The estate as a typed graph: objects are nodes, references are edges.

Inventory, impact analysis, lineage, the console map and the exports are all views of this graph.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field

from interlink.estate.links import links_of
from interlink.estate.model import Estate


@dataclass(frozen=True)
class Node:
    key: str
    kind: str
    name: str
    owner: str | None
    title: str | None = None


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    type: str


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def out_edges(self, key: str) -> list[Edge]:
        return [e for e in self.edges if e.source == key]

    def in_edges(self, key: str) -> list[Edge]:
        return [e for e in self.edges if e.target == key]

    def dependents(self, key: str) -> list[str]:
        """Everything that (transitively) points at ``key``, nearest first: its impact set."""
        incoming: dict[str, list[str]] = defaultdict(list)
        for edge in self.edges:
            if edge.type not in ("owns", "notifies", "watches", "describes"):
                incoming[edge.target].append(edge.source)
        seen: list[str] = []
        queue = deque(incoming[key])
        while queue:
            current = queue.popleft()
            if current in seen or current == key:
                continue
            seen.append(current)
            queue.extend(incoming[current])
        return seen

    def to_json(self) -> dict[str, object]:
        return {
            "nodes": [
                {"id": n.key, "kind": n.kind, "name": n.name, "owner": n.owner, "title": n.title}
                for n in self.nodes.values()
            ],
            "edges": [{"source": e.source, "target": e.target, "type": e.type} for e in self.edges],
        }

    def to_mermaid(self) -> str:
        lines = ["flowchart LR"]
        for node in self.nodes.values():
            lines.append(f'  {_ident(node.key)}["{node.kind}: {node.name}"]')
        for edge in self.edges:
            lines.append(f"  {_ident(edge.source)} -->|{edge.type}| {_ident(edge.target)}")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        lines = ["digraph estate {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
        for node in self.nodes.values():
            label = json.dumps(f"{node.kind}\n{node.name}")
            lines.append(f"  {json.dumps(node.key)} [label={label}];")
        for edge in self.edges:
            lines.append(
                f"  {json.dumps(edge.source)} -> {json.dumps(edge.target)} "
                f"[label={json.dumps(edge.type)}];"
            )
        lines.append("}")
        return "\n".join(lines) + "\n"


def _ident(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def build_graph(estate: Estate) -> Graph:
    """Nodes for every object; an edge for every reference whose target exists."""
    graph = Graph()
    for item in estate:
        obj = item.obj
        graph.nodes[obj.key] = Node(
            obj.key, obj.KIND, obj.name, estate.owner_of(obj), obj.metadata.title
        )
    edges: set[Edge] = set()
    for item in estate:
        for link in links_of(item.obj):
            if link.target_key not in graph.nodes:
                continue
            source, target = item.key, link.target_key
            if link.reverse:
                source, target = target, source
            edges.add(Edge(source, target, link.edge))
    graph.edges = sorted(edges)
    return graph
