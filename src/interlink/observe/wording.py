"""A verdict said twice: one sentence a business owner understands, and the detail an engineer
needs. Both are built from the verdict's facts and what the estate says of the monitor's
target: its name, who publishes it, who depends on it, which Team owns it.

>>> say_duration(14_400), say_rate(118.0), say_percent(0.0312)
('4 hours', 'about 120 an hour', '3.1%')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from interlink.estate.graph import Graph, build_graph
from interlink.estate.kinds.base import EstateObject
from interlink.estate.kinds.data import Monitor
from interlink.estate.model import Estate
from interlink.observe.verdicts import Fact, Verdict

#: Kinds that stand for someone or something depending on a target, as a person would list them.
_DEPENDENT_KINDS: Final = ("System", "Flow", "DataProduct", "Consumer")
#: At most this many dependents are named; the rest are counted.
_NAMED: Final = 3


@dataclass(frozen=True)
class Wording:
    """``summary`` for the owner (one or a few sentences), ``detail`` for an engineer."""

    summary: str
    detail: str


# --- numbers and times, said -------------------------------------------------------------------


def _plural(n: float, unit: str) -> str:
    shown = f"{n:g}"
    return f"{shown} {unit}" if shown == "1" else f"{shown} {unit}s"


def say_duration(seconds: float) -> str:
    """``14400`` → ``4 hours``: whole units, the largest that keeps the number readable."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return _plural(round(seconds), "second")
    if seconds < 3600:
        return _plural(round(seconds / 60), "minute")
    if seconds < 48 * 3600:
        hours = seconds / 3600
        return _plural(round(hours) if hours >= 10 else round(hours * 2) / 2, "hour")
    return _plural(round(seconds / 86_400), "day")


def _round(value: float) -> float:
    """Two significant figures: a usual rate is an estimate, not a count."""
    if value == 0:
        return 0
    digits = 1 - math.floor(math.log10(abs(value)))
    return round(value, digits)


def say_rate(per_hour: float) -> str:
    """``118`` → ``about 120 an hour``; under one an hour, per day."""
    if per_hour >= 1:
        return f"about {_round(per_hour):g} an hour"
    per_day = per_hour * 24
    if per_day >= 1:
        return f"about {_round(per_day):g} a day"
    return "fewer than one a day"


def say_percent(ratio: float) -> str:
    """A fraction as a percent with at most two significant figures: ``0.0312`` → ``3.1%``."""
    return f"{_round(ratio * 100):g}%"


def say_moment(at: datetime) -> str:
    """``a Monday morning``: the time of week usual traffic is compared with (UTC)."""
    hour = at.hour
    part = (
        "night" if hour < 6 else "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"
    )
    return f"a {at.strftime('%A')} {part}"


def _last(seconds: float) -> str:
    """``the last hour``, ``the last 4 hours``."""
    said = say_duration(seconds)
    return f"the last {said[2:]}" if said.startswith("1 ") else f"the last {said}"


def _span(seconds: float) -> str:
    """A duration as an adjective: ``7-day``."""
    number, _, unit = say_duration(seconds).partition(" ")
    return f"{number}-{unit.removesuffix('s')}"


def _number(value: float) -> str:
    return f"{_round(value):g}"


def _listed(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# --- the estate, said --------------------------------------------------------------------------


class Describer:
    """Names and relations of estate objects, as a sentence uses them. One per estate: the
    graph is built once, on first use."""

    def __init__(self, estate: Estate, graph: Graph | None = None) -> None:
        self.estate = estate
        self._graph = graph

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            self._graph = build_graph(self.estate)
        return self._graph

    def obj(self, kind: str, name: str) -> EstateObject | None:
        found = self.estate.get(kind, name)
        return None if found is None else found.obj

    def title(self, kind: str, name: str) -> str:
        """What a person calls the object: its title, else its name; a System is its title
        alone ("Logistics"), other kinds say what they are ("the customers route")."""
        obj = self.obj(kind, name)
        title = obj.metadata.title if obj is not None and obj.metadata.title else name
        if kind == "System":
            return f"the {title}" if title.isupper() else title
        what = {"DataProduct": "data product", "Api": "API"}.get(kind, kind.lower())
        if not title.split(" ")[0].isupper():  # "Customer addresses", not an acronym
            title = title[:1].lower() + title[1:]
        return f"the {title} {what}"

    def team(self, name: str | None) -> str | None:
        if not name:
            return None
        obj = self.obj("Team", name)
        title = obj.metadata.title if obj is not None and obj.metadata.title else name
        return title[:1].upper() + title[1:]

    def owner(self, kind: str, name: str) -> str | None:
        obj = self.obj(kind, name)
        return None if obj is None else self.team(self.estate.owner_of(obj))

    def publisher(self, event: str) -> str | None:
        obj = self.obj("Event", event)
        system = getattr(getattr(obj, "spec", None), "system", None)
        return system if isinstance(system, str) else None

    def dependents(self, kind: str, name: str) -> list[str]:
        """Who depends on the object, said: what consumes an Event (each subscription's
        target, each flow it triggers), else the Systems, Flows, DataProducts and Consumers
        that reach it through the graph. A Subscription stands for its target."""
        key = f"{kind}/{name}"
        if kind == "Event":  # its consumers only: the publisher's own dependents are not its
            found = [e.source for e in self.graph.in_edges(key) if e.type == "subscribes"]
        else:
            found = self.graph.dependents(key)
        said: list[str] = []
        for dependent in found:
            if dependent == key:
                continue
            node = self.graph.nodes[dependent]
            if node.kind == "Subscription":
                for edge in self.graph.out_edges(dependent):
                    if edge.type == "calls" and edge.target != key:
                        target = self.graph.nodes[edge.target]
                        said.append(self.title(target.kind, target.name))
            elif node.kind in _DEPENDENT_KINDS:
                said.append(self.title(node.kind, node.name))
        return list(dict.fromkeys(said))

    @staticmethod
    def _capital(text: str) -> str:
        return text[:1].upper() + text[1:]


# --- verdicts, said ----------------------------------------------------------------------------


def _float(facts: Mapping[str, Fact], key: str) -> float | None:
    value = facts.get(key)
    return float(value) if isinstance(value, int | float) else None


def _event_noun(describer: Describer, event: str) -> str:
    obj = describer.obj("Event", event)
    if obj is not None and obj.metadata.title:
        return obj.metadata.title[:1].lower() + obj.metadata.title[1:]
    return f"{event} events"


class _Subject:
    """Who does (or fails to do) what the monitor watches, and the noun of what it does."""

    def __init__(self, d: Describer, kind: str, name: str) -> None:
        self.kind, self.name = kind, name
        self.who = d.title(kind, name)
        self.things = "requests"
        if kind == "Event":
            self.things = _event_noun(d, name)
            publisher = d.publisher(name)
            if publisher is not None:
                self.who = d.title("System", publisher)
        elif kind == "Subscription":
            obj = d.obj("Subscription", name)
            spec = getattr(obj, "spec", None)
            if spec is not None:
                self.things = _event_noun(d, spec.event)
                target = spec.target
                if getattr(target, "system", None):
                    self.who = d.title("System", target.system)
                elif getattr(target, "flow", None):
                    self.who = d.title("Flow", target.flow)
        elif kind == "Flow":
            self.things = "runs"
        elif kind == "DataProduct":
            self.things = "refreshes"
        self.who = self.who[:1].upper() + self.who[1:]


_SIGNAL_VERB: Final = {
    "published": ("has not sent any", "sends"),
    "delivered": ("has not received any", "receives"),
    "refreshed": ("has not been refreshed", "is refreshed"),
    "ran": ("has not run", "runs"),
    "requested": ("has not had any", "gets"),
}


def _freshness(s: _Subject, facts: Mapping[str, Fact]) -> str:
    signal = str(facts.get("signal") or ("published" if s.kind == "Event" else "requested"))
    missing, usual_verb = _SIGNAL_VERB.get(signal, _SIGNAL_VERB["requested"])
    age = _float(facts, "age_seconds")
    since = f"for {say_duration(age)}" if age is not None else "in living memory"
    if age is None and facts.get("last_seen") is None:
        since = "since it has been watched"
    if signal in ("refreshed", "ran"):
        text = f"{s.who} {missing} {since}"
    else:
        text = f"{s.who} {missing} {s.things} {since}"
    usual = _float(facts, "usual_per_hour")
    limit = _float(facts, "max_age_seconds")
    if usual is not None and usual > 0:
        text += f"; it usually {usual_verb} {say_rate(usual)}"
    elif limit is not None:
        text += f"; the monitor allows at most {say_duration(limit)}"
    return text + "."


def _slo(s: _Subject, monitor: Monitor, facts: Mapping[str, Fact]) -> str:
    ratio = _float(facts, "error_ratio")
    indicator = str(facts.get("indicator") or "availability")
    slo = monitor.spec.slo
    if indicator == "latency":
        limit = slo.latency_threshold if slo is not None else None
        slower = f" slower than {say_duration_ms(limit)}" if limit is not None else " too slowly"
        failing = f"is answering {say_percent(ratio or 0)} of requests{slower}"
    else:
        failing = f"is failing {say_percent(ratio or 0)} of requests"
    window = _float(facts, "long_window_seconds")
    objective = _float(facts, "objective")
    text = f"{s.who} {failing}"
    if window is not None:
        text += f" over {_last(window)}"
    if objective is not None:
        text += f" (objective: {objective:g}%)"
    budget_window = slo.window if slo is not None else None
    if budget_window and 27 * 86_400 <= budget_window <= 31 * 86_400:
        budget = "the month's error budget"
    elif budget_window:
        budget = f"the {_span(budget_window)} error budget"
    else:
        budget = "the error budget"
    remaining = _float(facts, "budget_remaining")
    burn = _float(facts, "burn_rate_long")
    if remaining is not None and remaining <= 0:
        text += f"; {budget} is spent"
    elif remaining is not None and burn is not None and burn > 0 and budget_window:
        text += (
            f"; at this rate {budget} is gone in {say_duration(remaining * budget_window / burn)}"
        )
    return text + "."


def say_duration_ms(seconds: float) -> str:
    """A latency: ``0.3`` → ``300 ms``, ``2.5`` → ``2.5 s``."""
    return f"{_number(seconds * 1000)} ms" if seconds < 1 else f"{_number(seconds)} s"


_ANOMALY: Final = {
    ("volume", "down"): "fewer {things} than usual",
    ("volume", "up"): "more {things} than usual",
    ("latency", "up"): "more slowly than usual",
    ("latency", "down"): "faster than usual",
    ("errors", "up"): "more errors than usual",
    ("errors", "down"): "fewer errors than usual",
}
_DOING: Final = {"volume": "{doing}", "latency": "answering", "errors": "having"}
_GERUND: Final = {"published": "sending", "delivered": "receiving"}


def _anomaly(s: _Subject, verdict: Verdict) -> str:
    facts = verdict.facts
    metric = str(facts.get("metric") or "volume")
    direction = "down" if facts.get("direction") == "down" else "up"
    deviation = _float(facts, "deviation")
    far = "far " if deviation is not None and abs(deviation) >= 6 else ""
    doing = "receiving" if s.kind == "Subscription" else "sending" if s.kind == "Event" else ""
    if metric == "volume" and not doing:
        doing = "getting"
    verb = _DOING.get(metric, "{doing}").format(doing=doing)
    what = _ANOMALY.get((metric, direction), "unusual {things}").format(things=s.things)
    text = f"{s.who} is {verb} {far}{what} for {say_moment(verdict.at)}"
    observed, expected = _float(facts, "observed"), _float(facts, "expected")
    interval = _float(facts, "interval_seconds")
    if observed is not None and expected is not None:
        if metric == "latency":
            shown = f"{say_duration_ms(observed)} against about {say_duration_ms(expected)}"
        else:
            shown = f"{_number(observed)} against about {_number(expected)}"
        during = f" in {_last(interval)}" if interval else ""
        text += f": {shown}{during}"
    return text + "."


def word(verdict: Verdict, monitor: Monitor, describer: Describer) -> Wording:
    """The summary and the detail of a firing ``verdict`` of ``monitor``."""
    target = monitor.spec.target
    subject = _Subject(describer, target.kind, target.name)
    if verdict.type == "freshness":
        lead = _freshness(subject, verdict.facts)
    elif verdict.type == "slo":
        lead = _slo(subject, monitor, verdict.facts)
    else:
        lead = _anomaly(subject, verdict)
    sentences = [lead]
    dependents = describer.dependents(target.kind, target.name)
    if dependents:
        named = dependents[:_NAMED]
        more = len(dependents) - len(named)
        if more:
            named.append(f"{more} more")
        them = "them" if target.kind in ("Event", "Subscription") else "it"
        verb = "depends" if len(named) == 1 else "depend"
        sentences.append(Describer._capital(f"{_listed(named)} {verb} on {them}."))
    owner = describer.owner(target.kind, target.name) or describer.team(monitor.metadata.owner)
    if owner:
        sentences.append(f"Owner: {owner}.")
    return Wording(" ".join(sentences), technical_detail(verdict, monitor))


def resolved_summary(summary: str, firing_for: float) -> str:
    """What the owner is told when an alert ends: how long it lasted, and what it said."""
    return f"Resolved after {say_duration(firing_for)}. It said: {summary}"


def technical_detail(verdict: Verdict, monitor: Monitor) -> str:
    """The monitor, its target and every fact, as ``key=value`` an engineer can search for."""
    target = monitor.spec.target
    facts = " ".join(
        f"{key}={'-' if value is None else value}" for key, value in sorted(verdict.facts.items())
    )
    return (
        f"Monitor {monitor.name} ({verdict.type}, {monitor.spec.severity}) on "
        f"{target.kind}/{target.name}, evaluated at {verdict.at.isoformat()}: "
        f"{'firing' if verdict.firing else 'not firing'}.\n{facts}"
    ).rstrip()


__all__ = [
    "Describer",
    "Wording",
    "resolved_summary",
    "say_duration",
    "say_moment",
    "say_percent",
    "say_rate",
    "technical_detail",
    "word",
]
