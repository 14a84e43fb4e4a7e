"""Who may call each Route, as the routes page shows it: the Consumers holding the Route's
scopes with their Plans, or past the inventory's :data:`GROUPED_OVER` holders one line, "N
Consumers holding S", the inventory's own declaration.

The Consumers are indexed by scope once per served estate (the snapshot's ``holders``) rather
than scanned for each Route shown."""

from __future__ import annotations

from dataclasses import dataclass

from interlink.estate.kinds import Consumer
from interlink.estate.model import Estate
from interlink.observe.inventory import ANY
from interlink.runtime.snapshot import Snapshot


@dataclass(frozen=True)
class Callers:
    anyone: bool  # no scope required
    named: list[dict[str, str]]  # each holder's name and Plan, up to GROUPED_OVER of them
    group: str = ""  # "N Consumers holding S" past that


def callers(snapshot: Snapshot, scopes: list[str]) -> Callers:
    """Who may call a Route requiring ``scopes``, as the inventory declares it."""
    estate = snapshot.estate
    declared = snapshot.holders.callers(scopes)
    if declared == [(ANY, frozenset())]:
        return Callers(True, [])
    if len(declared) == 1 and declared[0][1]:  # one group covering its holders
        return Callers(False, [], declared[0][0])
    held = plans(estate, [key.partition("/")[2] for key, _ in declared])
    named = [{"name": name, "plan": plan} for name, plan in sorted(held.items())]
    return Callers(False, named)


def plans(estate: Estate, names: list[str | None]) -> dict[str, str]:
    """The Plan of each of the Consumers ``names`` the estate declares (None: none named)."""
    found = ((n, estate.get("Consumer", n)) for n in names if n)
    return {n: c.obj.spec.plan for n, c in found if c is not None and isinstance(c.obj, Consumer)}
