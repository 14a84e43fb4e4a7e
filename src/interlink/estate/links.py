"""Every reference one estate object makes to another.

One list serves two purposes: `check` reports a reference whose target does not exist, and the
graph draws each reference that carries an edge type as an edge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from interlink.estate.kinds import (
    Api,
    Consumer,
    DataProduct,
    EstateObject,
    Event,
    Flow,
    Glossary,
    Monitor,
    Platform,
    Route,
    Subscription,
)
from interlink.estate.kinds.flow import (
    CallStep,
    ChoiceStep,
    EnrichStep,
    FileStep,
    FlowStep,
    PublishStep,
    QueryStep,
    SendStep,
    Step,
    WriteStep,
)
from interlink.estate.yamlsource import PathKey

EDGE_TYPES = (
    "owns",
    "exposes",
    "routes-to",
    "publishes",
    "subscribes",
    "calls",
    "reads",
    "writes",
    "uses",
    "watches",
    "notifies",
    "succeeded-by",
    "describes",
)


@dataclass(frozen=True)
class Link:
    """``source`` refers to ``target_kind/target`` at ``path``.

    ``edge`` is the graph edge the reference stands for; when ``reverse`` is set, the edge
    points from the target to the source (a Team *owns* the System that names it as owner).
    """

    path: PathKey
    target_kind: str
    target: str
    edge: str
    reverse: bool = False

    @property
    def target_key(self) -> str:
        return f"{self.target_kind}/{self.target}"


def links_of(obj: EstateObject) -> Iterator[Link]:  # noqa: C901 - one branch per kind
    if obj.metadata.owner:
        yield Link(("metadata", "owner"), "Team", obj.metadata.owner, "owns", reverse=True)
    if isinstance(obj, Platform) and obj.spec.alerts.mail:
        yield Link(("spec", "alerts", "mail"), "System", obj.spec.alerts.mail, "uses")
    if isinstance(obj, Api):
        yield Link(("spec", "system"), "System", obj.spec.system, "exposes", reverse=True)
        if obj.spec.successor:
            yield Link(("spec", "successor"), "Api", obj.spec.successor, "succeeded-by")
    elif isinstance(obj, Event):
        yield Link(("spec", "system"), "System", obj.spec.system, "publishes", reverse=True)
        if obj.spec.successor:
            yield Link(("spec", "successor"), "Event", obj.spec.successor, "succeeded-by")
    elif isinstance(obj, Route):
        yield from _route_links(obj)
    elif isinstance(obj, Consumer):
        yield Link(("spec", "plan"), "Plan", obj.spec.plan, "uses")
        if obj.spec.system:
            yield Link(("spec", "system"), "System", obj.spec.system, "uses", reverse=True)
    elif isinstance(obj, Subscription):
        yield Link(("spec", "event"), "Event", obj.spec.event, "subscribes")
        target = obj.spec.target
        if target.system:
            yield Link(("spec", "target", "system"), "System", target.system, "calls")
        if target.flow:
            yield Link(("spec", "target", "flow"), "Flow", target.flow, "calls")
    elif isinstance(obj, Flow):
        if obj.spec.trigger is not None and obj.spec.trigger.event:
            yield Link(("spec", "trigger", "event"), "Event", obj.spec.trigger.event, "subscribes")
        poll = obj.spec.trigger.poll if obj.spec.trigger is not None else None
        if poll is not None and poll.system:
            yield Link(("spec", "trigger", "poll", "system"), "System", poll.system, "reads")
        if poll is not None and poll.api:
            yield Link(("spec", "trigger", "poll", "api"), "Api", poll.api, "reads")
        watch = obj.spec.trigger.watch if obj.spec.trigger is not None else None
        if watch is not None:
            yield Link(("spec", "trigger", "watch", "system"), "System", watch.system, "reads")
        consume = obj.spec.trigger.consume if obj.spec.trigger is not None else None
        if consume is not None:
            yield Link(("spec", "trigger", "consume", "system"), "System", consume.system, "reads")
        yield from _step_links(obj.spec.steps, ("spec", "steps"))
        yield from _step_links(obj.spec.on_error, ("spec", "onError"))
    elif isinstance(obj, DataProduct):
        if obj.spec.source.system is not None:  # a products source reads DataProducts
            yield Link(("spec", "source", "system"), "System", obj.spec.source.system, "reads")
        refresh = obj.spec.refresh
        if refresh is not None and refresh.event:
            yield Link(("spec", "refresh", "event"), "Event", refresh.event, "subscribes")
    elif isinstance(obj, Monitor):
        watched = obj.spec.target
        yield Link(("spec", "target"), watched.kind, watched.name, "watches")
        for i, team in enumerate(obj.spec.notify):
            yield Link(("spec", "notify", i), "Team", team, "notifies")
    elif isinstance(obj, Glossary):
        yield from _glossary_links(obj)


def _glossary_links(glossary: Glossary) -> Iterator[Link]:
    for i, term in enumerate(glossary.spec.terms):
        at = ("spec", "terms", i)
        if term.owner:
            yield Link((*at, "owner"), "Team", term.owner, "owns", reverse=True)
        for j, mapping in enumerate(term.mappings):
            kind, name = mapping.target
            field = {"System": "system", "Event": "event", "DataProduct": "product"}.get(
                kind, "api"
            )
            yield Link((*at, "mappings", j, field), kind, name, "describes")


def _route_links(route: Route) -> Iterator[Link]:
    if route.spec.api:
        yield Link(("spec", "api"), "Api", route.spec.api, "routes-to")
    for i, upstream in enumerate(route.spec.upstreams):
        yield Link(("spec", "upstreams", i, "system"), "System", upstream.system, "routes-to")
    if route.spec.publish:
        yield Link(("spec", "publish", "event"), "Event", route.spec.publish.event, "publishes")
    if route.spec.flow:
        yield Link(("spec", "flow"), "Flow", route.spec.flow, "calls")
    if route.spec.product:
        yield Link(("spec", "product"), "DataProduct", route.spec.product, "routes-to")


def _step_links(steps: list[Step], at: PathKey) -> Iterator[Link]:  # noqa: C901 - per kind
    for i, step in enumerate(steps):
        here = (*at, i)
        if isinstance(step, CallStep):
            edge = "reads" if step.method in ("GET", "HEAD") else "writes"
            yield Link((*here, "system"), "System", step.system, edge)
            if step.compensate:
                yield Link(
                    (*here, "compensate", "system"), "System", step.compensate.system, "writes"
                )
        elif isinstance(step, EnrichStep):
            if step.source.api:
                yield Link((*here, "from", "api"), "Api", step.source.api, "reads")
            if step.source.data_product:
                yield Link(
                    (*here, "from", "dataProduct"), "DataProduct", step.source.data_product, "reads"
                )
        elif isinstance(step, QueryStep):
            yield Link((*here, "system"), "System", step.system, "reads")
        elif isinstance(step, WriteStep | FileStep | SendStep):
            yield Link((*here, "system"), "System", step.system, "writes")
        elif isinstance(step, PublishStep):
            yield Link((*here, "event"), "Event", step.event, "publishes")
        elif isinstance(step, FlowStep):
            yield Link((*here, "flow"), "Flow", step.flow, "calls")
        elif isinstance(step, ChoiceStep):
            for b, branch in enumerate(step.branches):
                yield from _step_links(branch.steps, (*here, "branches", b, "steps"))
            yield from _step_links(step.otherwise, (*here, "otherwise"))
