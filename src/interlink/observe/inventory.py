"""The inventory: every connection, as the estate declares it and as the platform observed it.

A :class:`Connection` is one link between two estate objects, keyed by ``kind``, ``source``,
``target`` and ``via`` (how):

============  =============================  ==========================  ======================
kind          source                         target                      via
============  =============================  ==========================  ======================
request       Consumer (``*``: any caller;   System                      Route
              "N Consumers holding S")
read          Consumer (as for request)      DataProduct                 Route
publish       Consumer, System, Route, Flow  Event                       events, route, a step
deliver       Subscription                   System, Flow, handler       Event
trigger       Subscription, System, Api,     Flow                        event, schedule, poll,
              Route, Flow, ``schedule``                                  watch, consume, route,
                                                                         flow, api
call          Flow                           System, Api, Flow           the step
connector     Flow                           System                      (its operations)
============  =============================  ==========================  ======================

:func:`declared` lists what the estate says (routes and the Consumers whose scopes admit
them, as one group past :data:`GROUPED_OVER` of them; Events' publishers, Subscriptions,
flow triggers and steps, connectors), with the formats and contract versions, failure
handling and owner team. :func:`observed` turns the store's hourly counts (the gateway's
requests, the connectors' calls, the mesh's and flows' links) into the same keys.
:func:`inventory` merges both: each connection with its counts in the window, first and last
hour seen, requests per hour, its busiest hours of the day and its error rate, flagged
``undeclared`` (observed, not declared) or ``unused`` (declared, nothing observed in the
window). Pure: the callers read the store.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from interlink.estate.flow_rules import every_step
from interlink.estate.kinds import Api, Consumer, Event, Flow, Route, Subscription, System
from interlink.estate.kinds.delivery import Retry
from interlink.estate.kinds.flow import (
    CallStep,
    EnrichStep,
    FileStep,
    FlowSpec,
    FlowStep,
    PublishStep,
    QueryStep,
    SendStep,
    WriteStep,
)
from interlink.estate.model import Estate
from interlink.store import ObservedCall, ObservedConnection, ObservedLink, Store

KINDS: Final = ("request", "read", "publish", "deliver", "trigger", "call", "connector")
#: The scopes that let a Consumer publish (events/publish_auth.py, a layer above, checks them).
PUBLISH_SCOPE: Final = "events:publish:"
#: Any caller: the source of a Route's requests when it requires no scope.
ANY: Final = "*"
#: How many of the busiest hours of the day a connection lists.
BUSIEST: Final = 3
#: More Consumers than this holding a Route's scopes are declared as one connection, "N
#: Consumers holding S" (covering each of them), not one each: a thousand Routes and ten
#: thousand Consumers would otherwise declare hundreds of thousands of connections.
GROUPED_OVER: Final = 20


@dataclass
class Connection:
    kind: str
    source: str
    target: str
    via: str
    declared: bool = False
    trigger: str = ""  # what sets it off
    formats: list[str] = field(default_factory=list)
    contracts: list[str] = field(default_factory=list)
    failure: str = ""  # retries, dead letters, compensation
    owner: str | None = None  # the owning Team
    reads: bool = True  # the source depends on the target's answer
    writes: bool = True  # the target depends on what the source sends
    covers: frozenset[str] = frozenset()  # other sources this declaration admits
    operations: set[str] = field(default_factory=set)  # a connector's, as observed
    count: int = 0  # in the window
    errors: int = 0
    dead: int = 0
    first_seen: datetime | None = None  # over all that is stored
    last_seen: datetime | None = None  # the start of the last hour counted
    hours: Counter[int] = field(default_factory=Counter)  # the window's counts by hour of day
    peak: int = 0  # the most in one hour of the window
    window_hours: float = 0.0
    covered_by: str | None = None  # the declaration that admits an observed source
    unsubscribed: bool = False  # a publish observed of an Event no Subscription takes

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.source, self.target, self.via)

    @property
    def observed(self) -> bool:
        return self.count > 0

    @property
    def undeclared(self) -> bool:
        """Observed and not declared, or publishing an Event no one subscribes to."""
        return self.count > 0 and (not self.declared or self.unsubscribed)

    @property
    def unused(self) -> bool:
        return self.declared and self.count == 0

    @property
    def per_hour(self) -> float:
        return self.count / self.window_hours if self.window_hours else 0.0

    @property
    def error_rate(self) -> float | None:
        """Errors over attempts (for requests, those answered with a 5xx); None without
        traffic."""
        if not self.count:
            return None
        return self.errors / self.count

    @property
    def busiest_hours(self) -> list[int]:
        """The hours of the day (UTC) with the most traffic, busiest first."""
        ranked = sorted(self.hours.items(), key=lambda kv: (-kv[1], kv[0]))
        return [hour for hour, _ in ranked[:BUSIEST]]

    def to_json(self) -> dict[str, Any]:
        rate = self.error_rate
        return {
            "kind": self.kind,
            "from": self.source,
            "to": self.target,
            "how": self.via,
            "trigger": self.trigger,
            "formats": self.formats,
            "contracts": self.contracts,
            "failureHandling": self.failure,
            "owner": self.owner,
            "declared": self.declared,
            "undeclared": self.undeclared,
            "unused": self.unused,
            "coveredBy": self.covered_by,
            "unsubscribed": self.unsubscribed,
            "operations": sorted(self.operations),
            "count": self.count,
            "errors": self.errors,
            "deadLettered": self.dead,
            "errorRate": None if rate is None else round(rate, 6),
            "perHour": round(self.per_hour, 3),
            "peakPerHour": self.peak,
            "busiestHours": self.busiest_hours,
            "firstSeen": _iso(self.first_seen),
            "lastSeen": _iso(self.last_seen),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


# --- declared --------------------------------------------------------------------------------


def declared(estate: Estate) -> list[Connection]:
    """Every connection the estate declares, in a stable order."""
    found: dict[tuple[str, str, str, str], Connection] = {}
    for conn in _declared(estate):
        conn.declared = True
        if conn.key in found:  # one link declared twice (a step and its compensation)
            found[conn.key].covers |= conn.covers
        else:
            found[conn.key] = conn
    return sorted(found.values(), key=lambda c: c.key)


def _declared(estate: Estate) -> Iterator[Connection]:
    holders = Holders(estate)
    yield from _requests(estate, holders)
    yield from _reads(estate, holders)
    yield from _publishes(estate, holders)
    yield from _deliveries(estate)
    for item in estate.loaded_of("Flow"):
        assert isinstance(item.obj, Flow)
        yield from _flow(estate, item.obj)


def _contract_of_api(estate: Estate, name: str | None) -> list[str]:
    found = estate.get("Api", name) if name else None
    if found is None or not isinstance(found.obj, Api):
        return []
    return [f"Api/{name} v{found.obj.spec.version} ({found.obj.spec.lifecycle.value})"]


def _contract_of_event(estate: Estate, name: str) -> list[str]:
    found = estate.get("Event", name)
    if found is None or not isinstance(found.obj, Event):
        return []
    versions = ", ".join(
        f"v{s.version}" + ("" if s.lifecycle.value == "active" else f" {s.lifecycle.value}")
        for s in found.obj.spec.schemas
    )
    return [f"Event/{name} {versions}"]


def _route_failure(route: Route) -> str:
    res = route.spec.resilience
    parts = [f"retries {res.retries.attempts}", f"timeout {res.timeouts.read:g}s"]
    parts.append(f"circuit breaker after {res.circuit_breaker.consecutive_failures} failures")
    return ", ".join(parts)


class Holders:
    """The Consumers holding every one of a set of scopes, in the estate's order: indexed by
    scope once, since ten thousand Consumers scanned for each of a thousand Routes is ten
    million checks."""

    def __init__(self, estate: Estate) -> None:
        self._order: dict[str, int] = {}
        self._by_scope: dict[str, set[str]] = defaultdict(set)
        for item in estate.loaded_of("Consumer"):
            assert isinstance(item.obj, Consumer)
            self._order[item.key] = len(self._order)
            for scope in item.obj.spec.scopes:
                self._by_scope[scope].add(item.key)
        self._found: dict[tuple[str, ...], list[str]] = {}
        self._callers: dict[tuple[str, ...], list[tuple[str, frozenset[str]]]] = {}

    def __call__(self, scopes: Iterable[str]) -> list[str]:
        wanted = tuple(sorted(set(scopes)))
        if wanted not in self._found:
            held = set(self._order)  # no scope asked: every Consumer holds it
            for scope in wanted:
                held &= self._by_scope.get(scope, set())
            self._found[wanted] = sorted(held, key=self._order.__getitem__)
        return self._found[wanted]

    def callers(self, scopes: list[str]) -> list[tuple[str, frozenset[str]]]:
        """The sources a Route requiring ``scopes`` declares, with the callers each covers:
        any caller without scopes, else each holder, or past :data:`GROUPED_OVER` holders one
        group covering them all (its set shared by every Route requiring the same scopes)."""
        if not scopes:
            return [(ANY, frozenset())]
        wanted = tuple(sorted(set(scopes)))
        if wanted not in self._callers:
            held = self(wanted)
            if len(held) > GROUPED_OVER:
                group = f"{len(held)} Consumers holding {', '.join(wanted)}"
                self._callers[wanted] = [(group, frozenset(held))]
            else:
                self._callers[wanted] = [(c, frozenset()) for c in held]
        return self._callers[wanted]


def _reads(estate: Estate, holders: Holders) -> Iterator[Connection]:
    """Each Route with ``product:``: the Consumers holding its scopes read the DataProduct."""
    for item in estate.loaded_of("Route"):
        route = item.obj
        assert isinstance(route, Route)
        if route.spec.product is None:
            continue
        scopes = route.spec.auth.scopes if route.spec.auth else []
        owner = estate.owner_of(route)
        for caller, covers in holders.callers(scopes):
            yield Connection(
                "read",
                caller,
                f"DataProduct/{route.spec.product}",
                route.key,
                trigger="request",
                formats=["application/json", "text/csv", "application/vnd.apache.parquet"],
                owner=owner,
                writes=False,
                covers=covers,
            )


def _requests(estate: Estate, holders: Holders) -> Iterator[Connection]:
    for item in estate.loaded_of("Route"):
        route = item.obj
        assert isinstance(route, Route)
        scopes = route.spec.auth.scopes if route.spec.auth else []
        json = ["application/json"] if route.spec.api else []
        # The same for each caller: worked out once per Route, not once per Consumer.
        contracts = _contract_of_api(estate, route.spec.api)
        failure, owner = _route_failure(route), estate.owner_of(route)
        for upstream in route.spec.upstreams:
            for caller, covers in holders.callers(scopes):
                yield Connection(
                    "request",
                    caller,
                    f"System/{upstream.system}",
                    route.key,
                    trigger="request" + (" (shadow copy)" if upstream.shadow else ""),
                    formats=list(json),
                    contracts=list(contracts),
                    failure=failure,
                    owner=owner,
                    covers=covers,
                )


def _publishes(estate: Estate, holders: Holders) -> Iterator[Connection]:
    for item in estate.loaded_of("Event"):
        event = item.obj
        assert isinstance(event, Event)
        contracts = _contract_of_event(estate, event.name)
        formats = ["application/cloudevents+json"]
        owner = estate.owner_of(event)
        scoped = set(holders([PUBLISH_SCOPE + event.name]))
        scoped |= set(holders([PUBLISH_SCOPE + "*"]))
        for consumer in sorted(scoped):
            yield Connection(
                "publish", consumer, event.key, "events", trigger="publish", formats=formats,
                contracts=contracts, owner=owner,
            )  # fmt: skip
        # The Event's own System publishes it through its Consumers; said of the System when
        # none of them holds the scope (it may publish through an operator's token).
        bound = {c.key for c in estate.of(Consumer) if c.spec.system == event.spec.system}
        if not bound & scoped:
            yield Connection(
                "publish", f"System/{event.spec.system}", event.key, "events", trigger="publish",
                formats=formats, contracts=contracts, owner=owner, covers=frozenset(bound),
            )  # fmt: skip
    for item in estate.loaded_of("Route"):
        route = item.obj
        assert isinstance(route, Route)
        if route.spec.publish is None:
            continue
        name = route.spec.publish.event
        yield Connection(
            "publish", route.key, f"Event/{name}", "route", trigger="request",
            formats=["application/json"], contracts=_contract_of_event(estate, name),
            owner=estate.owner_of(route), covers=frozenset({ANY}),
        )  # fmt: skip


def _subscription_failure(retries: int, dead_letter: bool) -> str:
    return f"retries {retries}, " + ("dead-letter queue" if dead_letter else "dropped when spent")


def _deliveries(estate: Estate) -> Iterator[Connection]:
    for item in estate.loaded_of("Subscription"):
        sub = item.obj
        assert isinstance(sub, Subscription)
        yield Connection(
            "deliver", sub.key, delivery_target(sub), f"Event/{sub.spec.event}",
            trigger=f"event Event/{sub.spec.event}", formats=["application/cloudevents+json"],
            contracts=_contract_of_event(estate, sub.spec.event),
            failure=_subscription_failure(len(sub.spec.retry.schedule), sub.spec.dead_letter),
            owner=estate.owner_of(sub),
        )  # fmt: skip
        if sub.spec.target.flow:
            yield Connection(
                "trigger", sub.key, f"Flow/{sub.spec.target.flow}", "event",
                trigger=f"event Event/{sub.spec.event}", owner=estate.owner_of(sub),
            )  # fmt: skip


def delivery_target(sub: Subscription) -> str:
    target = sub.spec.target
    if target.flow:
        return f"Flow/{target.flow}"
    if target.system:
        return f"System/{target.system}"
    return f"handler/{target.handler}"


def _flow(estate: Estate, flow: Flow) -> Iterator[Connection]:
    key, owner = flow.key, estate.owner_of(flow)
    spec = flow.spec
    trigger = spec.trigger
    retry = _flow_failure(spec)
    if trigger is not None:
        if trigger.event:
            sub = f"Subscription/flow-{flow.name}"
            yield Connection(
                "deliver", sub, key, f"Event/{trigger.event}",
                trigger=f"event Event/{trigger.event}",
                formats=["application/cloudevents+json"],
                contracts=_contract_of_event(estate, trigger.event),
                failure=_subscription_failure(len(Retry().schedule), True), owner=owner,
            )  # fmt: skip
            yield Connection("trigger", sub, key, "event", trigger="event", owner=owner)
        if trigger.schedule:
            zone = f" {trigger.timezone}" if trigger.timezone else ""
            yield Connection(
                "trigger", "schedule", key, "schedule",
                trigger=f"schedule {trigger.schedule}{zone}", owner=owner,
            )  # fmt: skip
        if trigger.manual:
            yield Connection("trigger", "api", key, "api", trigger="manual", owner=owner)
        for via, system, api in _polled(estate, flow):
            source = f"Api/{api}" if api else f"System/{system}"
            yield Connection("trigger", source, key, via, trigger=via, owner=owner, writes=False)
            if system:
                yield Connection(
                    "connector", key, f"System/{system}", "", trigger=via, owner=owner,
                    formats=_connector_format(estate, system), writes=False,
                )  # fmt: skip
    for item in estate.loaded_of("Route"):
        assert isinstance(item.obj, Route)
        if item.obj.spec.flow == flow.name:
            yield Connection("trigger", item.key, key, "route", trigger="request", owner=owner)
    for placed in every_step(spec):
        yield from _step(estate, flow, placed.step, owner, retry)


def _polled(estate: Estate, flow: Flow) -> Iterator[tuple[str, str | None, str | None]]:
    """(trigger kind, System, Api) of a flow's poll, watch or consume trigger."""
    trigger = flow.spec.trigger
    assert trigger is not None
    if trigger.poll is not None:
        system = trigger.poll.system
        if trigger.poll.api:
            found = estate.get("Api", trigger.poll.api)
            system = found.obj.spec.system if found and isinstance(found.obj, Api) else None
        yield "poll", system, trigger.poll.api
    if trigger.watch is not None:
        yield "watch", trigger.watch.system, None
    if trigger.consume is not None:
        yield "consume", trigger.consume.system, None


def _flow_failure(spec: FlowSpec) -> str:
    parts = []
    if spec.on_error:
        parts.append(f"onError {len(spec.on_error)} step(s)")
    if spec.timeout:
        parts.append(f"timeout {spec.timeout:g}s")
    return ", ".join(parts)


def _step_failure(step: Any, flow_failure: str) -> str:
    attempts = step.retry.attempts if step.retry is not None else 3
    parts = [f"retries {attempts}"]
    compensate = getattr(step, "compensate", None)
    if compensate is not None:
        parts.append(f"compensate {compensate.method} System/{compensate.system}")
    if flow_failure:
        parts.append(flow_failure)
    return ", ".join(parts)


def _connector_format(estate: Estate, system: str) -> list[str]:
    found = estate.get("System", system)
    if found is None or not isinstance(found.obj, System) or not found.obj.spec.connector_name:
        return []
    return [f"connector {found.obj.spec.connector_name}"]


def _step(
    estate: Estate, flow: Flow, step: Any, owner: str | None, flow_failure: str
) -> Iterator[Connection]:
    key = flow.key
    failure = _step_failure(step, flow_failure)
    common: dict[str, Any] = {"owner": owner, "failure": failure, "trigger": f"step {step.name}"}
    for kind, target, reads, writes in step_links(step):
        extra: dict[str, Any] = {}
        if kind == "connector":
            extra["formats"] = _connector_format(estate, target.split("/", 1)[1])
            via = ""
        else:
            via = step.name
        if target.startswith("Api/"):
            extra["contracts"] = _contract_of_api(estate, target.split("/", 1)[1])
        if kind == "call":
            extra["formats"] = ["application/json"]
        if target.startswith("Event/"):
            extra["contracts"] = _contract_of_event(estate, target.split("/", 1)[1])
            extra["formats"] = ["application/cloudevents+json"]
        yield Connection(kind, key, target, via, reads=reads, writes=writes, **common, **extra)


def step_links(step: Any) -> list[tuple[str, str, bool, bool]]:
    """What one flow step reaches: (kind, target key, reads, writes) for each; a call step's
    compensation too."""
    if isinstance(step, CallStep):
        links = [("call", f"System/{step.system}", True, step.method not in ("GET", "HEAD"))]
        if step.compensate is not None:
            links.append(("call", f"System/{step.compensate.system}", True, True))
        return links
    if isinstance(step, EnrichStep) and step.source.api:
        return [("call", f"Api/{step.source.api}", True, False)]
    if isinstance(step, FlowStep):
        return [("call", f"Flow/{step.flow}", True, True)]
    if isinstance(step, PublishStep):
        return [("publish", f"Event/{step.event}", False, True)]
    if isinstance(step, QueryStep):
        return [("connector", f"System/{step.system}", True, False)]
    if isinstance(step, WriteStep | SendStep | FileStep):
        return [("connector", f"System/{step.system}", False, True)]
    return []


def step_targets(estate: Estate) -> dict[tuple[str, str, str], tuple[str, str]]:
    """For the flow runner's counts: (flow, step, phase) → (kind, target) of every step that
    calls a System, an Api or a child Flow, or publishes (a connector's steps are counted by
    the connectors). The ``compensate`` phase of a call step is its compensation's call."""
    out: dict[tuple[str, str, str], tuple[str, str]] = {}
    for flow in estate.of(Flow):
        for placed in every_step(flow.spec):
            step = placed.step
            for kind, target, _, _ in step_links(step)[:1]:
                if kind != "connector":
                    out[(flow.name, step.name, "forward")] = (kind, target)
            if isinstance(step, CallStep) and step.compensate is not None:
                out[(flow.name, step.name, "compensate")] = (
                    "call",
                    f"System/{step.compensate.system}",
                )
    return out


# --- observed --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One hour of one connection, as observed."""

    hour: datetime
    kind: str
    source: str
    target: str
    via: str
    count: int
    errors: int = 0
    dead: int = 0
    operation: str = ""


def observed(
    estate: Estate,
    requests: Iterable[ObservedConnection],
    calls: Iterable[ObservedCall],
    links: Iterable[ObservedLink],
) -> Iterator[Seen]:
    """The store's counts as connections of the inventory's keys, their unknowns (a
    delivery's target, a trigger's source) found in ``estate``."""
    for r in requests:
        source = f"Consumer/{r.consumer}" if r.consumer else ""
        # A product route's reads are kept as the product's key (DataProduct/NAME); a
        # System's name never holds a "/".
        kind, target = ("read", r.system) if "/" in r.system else ("request", f"System/{r.system}")
        yield Seen(r.hour, kind, source, target, f"Route/{r.route}", r.count, r.errors)
    for c in calls:
        yield Seen(
            c.hour, "connector", f"Flow/{c.caller}", f"System/{c.system}", "", c.calls,
            c.errors, operation=c.operation,
        )  # fmt: skip
    for link in links:
        source, target = link.source, link.target
        if link.kind == "deliver" and not target:
            target = _delivered_to(estate, source)
        elif link.kind == "trigger" and link.via == "api":
            source = "api"
        yield Seen(
            link.hour, link.kind, source, target, link.via, link.count, link.errors, link.dead
        )


def _delivered_to(estate: Estate, subscription: str) -> str:
    name = subscription.split("/", 1)[1] if "/" in subscription else subscription
    found = estate.get("Subscription", name)
    if found is not None and isinstance(found.obj, Subscription):
        return delivery_target(found.obj)
    if name.startswith("flow-") and estate.get("Flow", name[5:]) is not None:
        return f"Flow/{name[5:]}"  # a flow's trigger.event
    return ""


def trigger_link(trigger: str) -> tuple[str, str]:
    """A flow run's trigger (as the engine records it) as (source, via): ``event:SUB:ID`` is
    Subscription/SUB; ``poll:…``, ``watch:…``, ``consume:…``, ``http`` (a route) and
    ``flow:…`` (a parent run) name no estate object, which the inventory finds from the
    declared triggers."""
    kind, _, rest = trigger.partition(":")
    if kind == "event":
        return f"Subscription/{rest.partition(':')[0]}", "event"
    if kind in ("poll", "watch", "consume", "read_stream"):
        return "", "poll" if kind == "read_stream" else kind
    if kind == "schedule":
        return "schedule", "schedule"
    if kind == "http":
        return "", "route"
    if kind == "flow":
        return "", "flow"
    return "api", "api"


# --- merged ----------------------------------------------------------------------------------


@dataclass
class Inventory:
    since: datetime
    now: datetime
    connections: list[Connection]

    @property
    def declared_count(self) -> int:
        return sum(1 for c in self.connections if c.declared)

    @property
    def observed_count(self) -> int:
        return sum(1 for c in self.connections if c.observed)

    @property
    def ratio(self) -> float | None:
        """Observed connections over declared ones (above 1 with many undeclared)."""
        declared_count = self.declared_count
        return self.observed_count / declared_count if declared_count else None

    def summary(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "declared": self.declared_count,
            "observed": self.observed_count,
            "undeclared": sum(1 for c in self.connections if c.undeclared),
            "unused": sum(1 for c in self.connections if c.unused),
            "observedDeclaredRatio": None if ratio is None else round(ratio, 6),
        }

    def filtered(
        self, *, undeclared: bool = False, unused: bool = False, kind: str | None = None
    ) -> list[Connection]:
        """The connections, only the undeclared and/or unused ones when asked."""
        out = self.connections
        if kind is not None:
            out = [c for c in out if c.kind == kind]
        if undeclared or unused:
            out = [c for c in out if (undeclared and c.undeclared) or (unused and c.unused)]
        return out


def inventory(
    estate: Estate,
    seen: Iterable[Seen],
    since: datetime,
    now: datetime,
    declared_rows: Iterable[Connection] | None = None,
) -> Inventory:
    """Declared and observed connections merged; counts in the window from ``since`` to
    ``now``, first and last seen over all of ``seen``. ``declared_rows``: ``declared(estate)``
    worked out before (a snapshot keeps it), copied here, never changed."""
    rows = declared(estate) if declared_rows is None else declared_rows
    found = {c.key: replace(c, operations=set(), hours=Counter()) for c in rows}
    by_how: dict[tuple[str, str, str], list[Connection]] = defaultdict(list)
    for conn in found.values():
        by_how[(conn.kind, conn.target, conn.via)].append(conn)
    covering_used: set[tuple[str, str, str, str]] = set()
    window_hours = max((now - since).total_seconds() / 3600, 1.0)
    per_hour: dict[tuple[str, str, str, str], Counter[datetime]] = defaultdict(Counter)
    start = since.replace(minute=0, second=0, microsecond=0)  # the window's first hour
    for row in seen:
        key = (row.kind, row.source, row.target, row.via)
        match = found.get(key)
        if match is None:  # the first hour of a connection not declared as such
            match = _admit(estate, found, by_how, covering_used, row, key)
        _count(match, row, start, per_hour[match.key])
    for key, hourly in per_hour.items():
        found[key].peak = max(hourly.values(), default=0)
    subscribed = {c.via for c in found.values() if c.kind == "deliver" and c.declared}
    for conn in found.values():
        conn.window_hours = window_hours
        conn.unsubscribed = conn.kind == "publish" and conn.target not in subscribed
    # A wildcard declaration its covered callers used is said by their rows.
    kept = [c for c in found.values() if not (c.key in covering_used and c.count == 0)]
    kept.sort(key=lambda c: c.key)
    return Inventory(since, now, kept)


def _admit(
    estate: Estate,
    found: dict[tuple[str, str, str, str], Connection],
    by_how: dict[tuple[str, str, str], list[Connection]],
    covering_used: set[tuple[str, str, str, str]],
    row: Seen,
    key: tuple[str, str, str, str],
) -> Connection:
    """The connection counting ``row``, whose key nothing declares: a row of its own for a
    caller a declaration admits, the declaration itself for a trigger of unknown source, or
    else a new, undeclared one."""
    match = _match(by_how, row)
    if match is not None and row.source:
        covering_used.add(match.key)  # a caller it admits: a row of its own
        match = found[key] = replace(_blank(match), source=row.source, covered_by=match.source)
    if match is None:
        match = found[key] = Connection(*key, owner=_owner_of(estate, row.source, row.target))
        if row.kind == "trigger" and row.via == "api":  # any flow may be started by hand
            match.declared, match.covered_by = True, "admin API"
    return match


def _blank(conn: Connection) -> Connection:
    """A declared connection's description without its counts, for a caller it admits."""
    return replace(
        conn, covers=frozenset(), operations=set(), hours=Counter(), count=0, errors=0, dead=0,
        first_seen=None, last_seen=None, peak=0,
    )  # fmt: skip


def _match(by_how: dict[tuple[str, str, str], list[Connection]], row: Seen) -> Connection | None:
    """The declaration admitting ``row``'s source: a wildcard, one that covers it, or for a
    trigger whose source the run did not record (a poll, a route, a parent flow), the one
    declared. An unknown publisher (an operator's token) is admitted by none."""
    unknown_trigger = not row.source and row.kind == "trigger"
    for conn in by_how.get((row.kind, row.target, row.via), []):
        if unknown_trigger or conn.source == ANY or {ANY, row.source} & conn.covers:
            return conn
    return None


def _count(conn: Connection, row: Seen, start: datetime, hourly: Counter[datetime]) -> None:
    if row.operation:
        conn.operations.add(row.operation)
    if conn.first_seen is None or row.hour < conn.first_seen:
        conn.first_seen = row.hour
    if conn.last_seen is None or row.hour > conn.last_seen:
        conn.last_seen = row.hour
    if row.hour < start:
        return
    conn.count += row.count
    conn.errors += row.errors
    conn.dead += row.dead
    conn.hours[row.hour.hour] += row.count
    hourly[row.hour] += row.count


def _owner_of(estate: Estate, *keys: str) -> str | None:
    for key in keys:
        kind, _, name = key.partition("/")
        found = estate.get(kind, name) if name else None
        if found is not None:
            owner = estate.owner_of(found.obj)
            if owner:
                return owner
    return None


def read_inventory(
    estate: Estate,
    store: Store,
    since: datetime,
    now: datetime,
    *,
    history: bool = True,
    declared_rows: Iterable[Connection] | None = None,
) -> Inventory:
    """The inventory of ``estate`` over what ``store`` observed (blocking). With ``history``
    the store's hourly counts are read whole, for first and last seen; without, only the
    window's."""
    start = None if history else since
    requests, calls = store.connections.list(start), store.connector_calls.list(start)
    seen = observed(estate, requests, calls, store.links.list(start))
    return inventory(estate, seen, since, now, declared_rows)


def inventory_json(inv: Inventory, rows: list[Connection]) -> dict[str, Any]:
    """The CLI's JSON and the admin API's document: the summary of all, and ``rows``."""
    return {
        "since": _iso(inv.since),
        "until": _iso(inv.now),
        "summary": inv.summary(),
        "connections": [c.to_json() for c in rows],
    }


#: The columns of the inventory as CSV (the CLI's --format csv, the console's download).
CSV_FIELDS = (
    "kind", "from", "to", "how", "trigger", "formats", "contracts", "failureHandling", "owner",
    "declared", "undeclared", "unused", "coveredBy", "operations", "count", "errors",
    "deadLettered", "errorRate", "perHour", "peakPerHour", "busiestHours", "firstSeen",
    "lastSeen",
)  # fmt: skip


def _cell(value: object) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def inventory_csv(rows: list[Connection]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for conn in rows:
        data = conn.to_json()
        writer.writerow([_cell(data[name]) for name in CSV_FIELDS])
    return out.getvalue()
