"""Lifecycle bindings: who still uses an Api, an Event or a schema version that is going away.

An Api or Event moves draft → active → deprecated (with a sunset date and a successor) →
retired, and so does each schema version of an Event. A *binding* is a reference to one that is
deprecated or retired:

* every reference the estate makes to an Api or Event (``links_of``): a Route's ``api`` or
  ``publish.event``, a Subscription's ``event``, a Flow's trigger, enrich and publish steps.
  A successor reference is not a binding: it is where bindings should move.
* a Consumer, through each Route it is admitted to. A Route names no consumers; it requires
  scopes, and a Consumer that holds every one of them can call it. Routes that require no
  scope would admit every Consumer, so for them the Route alone is reported.
* a subscriber (a Subscription or a Flow trigger) and each deprecated schema version of an
  Event it subscribes to, since publishers may still send that version. Retired versions are
  no longer published, so nobody receives them. Publishers choose the version they send and
  are not bound to older ones.

A binding to a deprecated version is a warning until the sunset date, and an error from that
day on (the sunset is the day it stops answering) or once the target is retired. A passed
sunset fails `check`, but does not stop the runtime from starting or reloading: a running
platform must not fail on a date nobody changed anything for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from interlink.estate.findings import Finding, Location, Severity
from interlink.estate.kinds import Consumer, DataProduct, Event, Route
from interlink.estate.kinds.base import Lifecycle, Versioned
from interlink.estate.links import links_of
from interlink.estate.model import Estate, Loaded

#: The one finding that appears by itself as days go by.
SUNSET_PASSED = "LIFECYCLE_SUNSET_PASSED"
_GOING = (Lifecycle.DEPRECATED, Lifecycle.RETIRED)
_SUBSCRIBES = "subscribes"


@dataclass(frozen=True)
class Binding:
    """``who`` refers to ``target`` (version ``version`` of it, for a schema version)."""

    who: str  # "Route/customers"
    target: str  # "Api/customers-v1", "Event/customer.address-updated"
    state: Lifecycle
    location: Location  # the referring field
    version: int | None = None
    sunset: date | None = None
    days_left: int | None = None  # negative once the sunset has passed
    successor: str | None = None  # "Api/customers-v2", "Event/customer.address-updated v2"
    via: str | None = None  # the Route a Consumer is bound through

    @property
    def what(self) -> str:
        return self.target if self.version is None else f"{self.target} v{self.version}"

    @property
    def severity(self) -> Severity:
        return "error" if self.code != "LIFECYCLE_DEPRECATED" else "warning"

    @property
    def code(self) -> str:
        if self.state == Lifecycle.RETIRED:
            return "LIFECYCLE_RETIRED"
        if self.days_left is not None and self.days_left <= 0:
            return SUNSET_PASSED
        return "LIFECYCLE_DEPRECATED"

    @property
    def message(self) -> str:
        through = f" through {self.via}" if self.via else ""
        text = f"{self.who} is bound to {self.what}{through}, {self.state.value}"
        if self.state == Lifecycle.DEPRECATED and self.sunset is not None:
            text += f": sunset {self.sunset.isoformat()} ({_days(self.days_left)})"
        if self.successor:
            text += f"; move to {self.successor}"
        return text

    def finding(self) -> Finding:
        return Finding(self.severity, self.code, self.message, self.location, subject=self.who)

    def to_json(self, root: Path | None = None) -> dict[str, object]:
        where = self.location.render(root).rsplit(":", 2)[0]
        return {
            "who": self.who,
            "what": self.what,
            "target": self.target,
            "version": self.version,
            "via": self.via,
            "state": self.state.value,
            "sunset": self.sunset.isoformat() if self.sunset else None,
            "days_left": self.days_left,
            "successor": self.successor,
            "severity": self.severity,
            "code": self.code,
            "file": where,
            "line": self.location.line,
            "col": self.location.col,
        }


def _days(left: int | None) -> str:
    if left is None:
        return "no date"
    if left == 0:
        return "today"
    if left > 0:
        return f"{left} day{'s' if left != 1 else ''} left"
    return f"passed {-left} day{'s' if left != -1 else ''} ago"


def lifecycle_bindings(estate: Estate, today: date) -> list[Binding]:
    """Every binding to a deprecated or retired version, most urgent first."""
    found: list[Binding] = []
    for item in estate:
        for link in links_of(item.obj):
            # A glossary saying where a term is held binds nobody to a version.
            if link.target_kind not in ("Api", "Event") or link.edge in (
                "succeeded-by",
                "describes",
            ):
                continue
            target = estate.get(link.target_kind, link.target)
            if target is None:
                continue  # a dangling reference, reported as such
            spec = target.obj.spec
            assert isinstance(spec, Versioned)
            # Positions are worked out from the file text on demand: only for real bindings.
            if spec.lifecycle in _GOING:
                binding = _binding(item.key, target, spec, item.location(link.path), today)
                found.append(binding)
                if isinstance(item.obj, Route):
                    found.extend(_through_route(estate, item.obj, binding))
            elif (
                link.edge == _SUBSCRIBES
                and isinstance(target.obj, Event)
                # A product refreshed on the event reads none of its payload: no version.
                and not isinstance(item.obj, DataProduct)
                and any(v.lifecycle == Lifecycle.DEPRECATED for v in target.obj.spec.schemas)
            ):
                found.extend(_schema_versions(item.key, target.obj, item.location(link.path)))
    found.sort(key=_urgency)
    return found


def _binding(who: str, target: Loaded, spec: Versioned, at: Location, today: date) -> Binding:
    left = (spec.sunset - today).days if spec.sunset is not None else None
    successor = f"{target.obj.KIND}/{spec.successor}" if spec.successor else None
    return Binding(
        who,
        target.key,
        spec.lifecycle,
        at,
        sunset=spec.sunset,
        days_left=left,
        successor=successor,
    )


def _through_route(estate: Estate, route: Route, bound: Binding) -> Iterator[Binding]:
    """The Consumers holding every scope the Route requires, each bound through it."""
    required = route.spec.auth.scopes if route.spec.auth else []
    if not required:
        return
    for item in estate.loaded_of("Consumer"):
        consumer = item.obj
        assert isinstance(consumer, Consumer)
        held = consumer.spec.scopes
        if all(scope in held for scope in required):
            at = item.location(("spec", "scopes", held.index(required[0])))
            yield Binding(
                item.key,
                bound.target,
                bound.state,
                at,
                sunset=bound.sunset,
                days_left=bound.days_left,
                successor=bound.successor,
                via=route.key,
            )


def _schema_versions(who: str, event: Event, at: Location) -> Iterator[Binding]:
    """A subscriber and each deprecated schema version it may still receive."""
    schemas = event.spec.schemas
    for version in schemas:
        if version.lifecycle != Lifecycle.DEPRECATED:
            continue
        newer = [
            s.version
            for s in schemas
            if s.version > version.version and s.lifecycle == Lifecycle.ACTIVE
        ]
        yield Binding(
            who,
            event.key,
            version.lifecycle,
            at,
            version=version.version,
            successor=f"{event.key} v{newer[-1]}" if newer else None,
        )


def _urgency(binding: Binding) -> tuple[bool, int, str, str, str]:
    left = binding.days_left if binding.days_left is not None else 1 << 30
    return (binding.severity != "error", left, binding.what, binding.via or "", binding.who)
