"""Impact: what is affected when a System, an Api or an Event changes or fails.

Over the inventory's connections, declared and observed alike, each one is an edge saying what
depends on what: a System's Routes and, through them, their Consumers; an Event's
Subscriptions, their targets and the Flows they trigger; whatever a Flow reads from (it fails
with it) and, downstream, whatever it writes to, publishes or starts. The estate adds what it
declares without traffic: the Apis a System exposes, the Routes serving an Api, the Events a
System publishes, the DataProducts it feeds and the Flows enriching from those.

:func:`impact` follows those edges from the subject as far as they go (a flow's outputs'
subscribers, and theirs), and adds the subject's direct upstream too (who publishes an Event,
who writes to a System: a change reaches them). Each affected object says how it was reached,
from which object, at which depth, and whether over a declared or only an observed connection.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from interlink.errors import BadRequest, NotFound
from interlink.estate.flow_rules import every_step
from interlink.estate.hints import nearest
from interlink.estate.kinds import Api, DataProduct, Event, Flow, Route
from interlink.estate.kinds.flow import EnrichStep
from interlink.estate.model import Estate
from interlink.observe.inventory import ANY, Connection

#: The kinds `impact` starts from.
SUBJECT_KINDS: Final = ("System", "Api", "Event")
#: The groups of affected objects, as the output lists them.
GROUPS: Final = (
    "Route", "Consumer", "Subscription", "Flow", "DataProduct", "System", "Api", "Event",
)  # fmt: skip


@dataclass(frozen=True)
class Edge:
    target: str
    how: str
    declared: bool
    observed: bool


@dataclass(frozen=True)
class Affected:
    key: str
    depth: int
    parent: str  # the object it is affected through
    how: str
    declared: bool  # reached over declared connections only…
    observed: bool  # …or one the platform observed
    owner: str | None

    @property
    def kind(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split("/", 1)[1]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "depth": self.depth,
            "through": self.parent,
            "how": self.how,
            "declared": self.declared,
            "observed": self.observed,
            "owner": self.owner,
        }


@dataclass
class Impact:
    subject: str
    owner: str | None
    affected: list[Affected] = field(default_factory=list)

    @property
    def teams(self) -> list[str]:
        owners = {a.owner for a in self.affected if a.owner}
        if self.owner:
            owners.add(self.owner)
        return sorted(owners)

    def of_kind(self, kind: str) -> list[str]:
        return [a.name for a in self.affected if a.kind == kind]

    def to_json(self) -> dict[str, Any]:
        groups = {_plural(kind): self.of_kind(kind) for kind in GROUPS}
        return {
            "subject": self.subject,
            "owner": self.owner,
            **groups,
            "teams": self.teams,
            "affected": [a.to_json() for a in self.affected],
        }

    def tree(self) -> list[str]:
        """The affected objects as an indented tree under the subject."""
        children: dict[str, list[Affected]] = {}
        for item in self.affected:
            children.setdefault(item.parent, []).append(item)
        lines = [self.subject + (f"  (owner {self.owner})" if self.owner else "")]

        def walk(key: str, indent: str) -> None:
            for child in children.get(key, []):
                seen = "" if child.declared else "  [observed only]"
                owner = f"  (owner {child.owner})" if child.owner else ""
                lines.append(f"{indent}└─ {child.how} → {child.key}{owner}{seen}")
                walk(child.key, indent + "   ")

        walk(self.subject, "")
        return lines


def _plural(kind: str) -> str:
    return {"DataProduct": "products", "System": "systems", "Api": "apis", "Event": "events"}.get(
        kind, kind[0].lower() + kind[1:] + "s"
    )


def resolve_subject(estate: Estate, text: str) -> str:
    """``KIND/NAME`` or a bare ``NAME`` of a System, Api or Event, as its key; ``NotFound``
    (with the closest names) or ``BadRequest`` (a name several kinds have) otherwise."""
    kind, slash, name = text.partition("/")
    if slash:
        wanted = next((k for k in SUBJECT_KINDS if k.lower() == kind.lower()), None)
        if wanted is None:
            raise BadRequest(f"{text!r}: impact starts from a {', '.join(SUBJECT_KINDS)}")
        if estate.get(wanted, name) is None:
            raise NotFound(f"no {wanted} {name!r} in the estate" + _close(estate, name))
        return f"{wanted}/{name}"
    found = [k for k in SUBJECT_KINDS if estate.get(k, text) is not None]
    if not found:
        raise NotFound(f"no System, Api or Event {text!r} in the estate" + _close(estate, text))
    if len(found) > 1:
        keys = ", ".join(f"{k}/{text}" for k in found)
        raise BadRequest(f"{text!r} names several objects: {keys}; give one of them")
    return f"{found[0]}/{text}"


def _close(estate: Estate, name: str) -> str:
    keys = [f"{k}/{n}" for k in SUBJECT_KINDS for n in estate.names(k)]
    names = {key.split("/", 1)[1]: key for key in keys}
    close = nearest(name, names)
    return f" (did you mean {names[close]}?)" if close else ""


#: The edges along which a failure spreads: what depends on the object's answers fails with it.
#: The others carry data (events, deliveries, calls, writes): what they reach misses it.
DEPENDENCIES: Final = frozenset(
    {"routes to it", "calls it", "called by", "read by", "answers", "exposes", "served by",
     "feeds", "enriches"}
)  # fmt: skip
#: One edge: (from, to, how, declared, observed).
EdgeRow = tuple[str, str, str, bool, bool]


def edges(estate: Estate, connections: Iterable[Connection]) -> dict[str, list[Edge]]:
    """What depends on what: ``out[a]`` lists what is affected when ``a`` fails or changes."""
    out: dict[str, dict[tuple[str, str], Edge]] = {}
    rows = [row for c in connections for row in _connection_edges(c)]
    for source, target, how, declared, observed in [*rows, *_estate_edges(estate)]:
        if source == target or not _real(estate, source) or not _real(estate, target):
            continue
        held = out.setdefault(source, {})
        old = held.get((target, how)) or Edge(target, how, False, False)
        held[(target, how)] = Edge(target, how, declared or old.declared, observed or old.observed)
    return {key: list(held.values()) for key, held in out.items()}


def _connection_edges(c: Connection) -> Iterator[EdgeRow]:
    d, o = c.declared, c.observed
    if c.kind in ("request", "read"):
        yield c.target, c.via, "routes to it" if c.kind == "request" else "served by", d, o
        for caller in sorted(c.covers) or [c.source]:  # a group of holders: each of them
            yield c.via, caller, "calls it", d, o
    elif c.kind == "publish":
        yield c.source, c.target, "publishes", d, o
    elif c.kind == "deliver":
        yield c.via, c.source, "subscribes", d, o
        yield c.source, c.target, "delivers to", d, o
    elif c.kind == "trigger":
        yield c.source, c.target, f"triggers ({c.via})", d, o
        if c.source.startswith("Route/"):
            yield c.target, c.source, "answers", d, o
    elif c.kind in ("call", "connector"):
        if c.reads:
            yield c.target, c.source, "called by" if c.kind == "call" else "read by", d, o
        if c.writes:
            yield c.source, c.target, "writes to" if c.kind == "connector" else "calls", d, o


def _estate_edges(estate: Estate) -> Iterator[EdgeRow]:
    for api in estate.of(Api):
        yield f"System/{api.spec.system}", api.key, "exposes", True, False
    for route in estate.of(Route):
        if route.spec.api:
            yield f"Api/{route.spec.api}", route.key, "served by", True, False
    for event in estate.of(Event):
        yield f"System/{event.spec.system}", event.key, "publishes", True, False
    for product in estate.of(DataProduct):
        if product.spec.source.system is not None:
            yield f"System/{product.spec.source.system}", product.key, "feeds", True, False
    for flow in estate.of(Flow):
        for placed in every_step(flow.spec):
            step = placed.step
            if isinstance(step, EnrichStep) and step.source.data_product:
                source = f"DataProduct/{step.source.data_product}"
                yield source, flow.key, "enriches", True, False


def _real(estate: Estate, key: str) -> bool:
    kind, _, name = key.partition("/")
    return key != ANY and bool(name) and estate.get(kind, name) is not None


def impact(estate: Estate, connections: Iterable[Connection], subject: str) -> Impact:
    """Everything affected when ``subject`` (a key :func:`resolve_subject` gave) changes or
    fails: downstream as far as the edges go, and the subject's direct upstream."""
    graph = edges(estate, connections)
    kind, _, name = subject.partition("/")
    found = estate.get(kind, name)
    owner = estate.owner_of(found.obj) if found is not None else None
    result = Impact(subject, owner)
    reached: dict[str, Affected] = {}
    failing = {subject}  # reached over dependencies: they fail too, not only miss data
    queue: deque[tuple[str, int]] = deque([(subject, 0)])
    while queue:
        key, depth = queue.popleft()
        for edge in graph.get(key, []):
            fails = edge.how in DEPENDENCIES
            if edge.target == subject or (fails and key not in failing):
                continue  # what only misses data does not fail what depends on it
            if fails and edge.target not in failing:
                failing.add(edge.target)
                queue.append((edge.target, depth + 1))  # again if reached before: more to follow
            if edge.target in reached:
                continue
            reached[edge.target] = Affected(
                edge.target,
                depth + 1,
                key,
                edge.how,
                edge.declared,
                edge.observed,
                _owner(estate, edge.target),
            )
            queue.append((edge.target, depth + 1))
    for source, out in graph.items():  # who sends to the subject: a change reaches them
        for edge in out:
            if edge.target == subject and source not in reached and source != subject:
                reached[source] = Affected(
                    source,
                    1,
                    subject,
                    "upstream: " + edge.how,
                    edge.declared,
                    edge.observed,
                    _owner(estate, source),
                )
    result.affected = sorted(reached.values(), key=lambda a: (a.depth, a.key))
    return result


def _owner(estate: Estate, key: str) -> str | None:
    kind, _, name = key.partition("/")
    found = estate.get(kind, name)
    return estate.owner_of(found.obj) if found is not None else None
