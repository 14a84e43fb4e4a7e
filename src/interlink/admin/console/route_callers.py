"""Who may call each Route, as the routes page shows it: the Consumers holding the Route's
scopes with their Plans, or past the inventory's :data:`GROUPED_OVER` holders one line, "N
Consumers holding S", the inventory's own declaration.

The Consumers are indexed by scope once per estate (kept while that estate is the one served)
rather than scanned for each Route shown: fifty Routes over ten thousand Consumers is half a
million checks a page."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from interlink.estate.kinds import Consumer
from interlink.estate.model import Estate
from interlink.observe.inventory import ANY, Holders

#: The estate last indexed and its index: one estate is served at a time.
_last: tuple[weakref.ref[Estate], Holders] | None = None


@dataclass(frozen=True)
class Callers:
    anyone: bool  # no scope required
    named: list[dict[str, str]]  # each holder's name and Plan, up to GROUPED_OVER of them
    group: str = ""  # "N Consumers holding S" past that


def holders_of(estate: Estate) -> Holders:
    """The estate's scope index, built on first use and reused while the estate is served."""
    global _last
    if _last is None or _last[0]() is not estate:
        _last = (weakref.ref(estate), Holders(estate))
    return _last[1]


def callers(estate: Estate, scopes: list[str]) -> Callers:
    """Who may call a Route requiring ``scopes``, as the inventory declares it."""
    declared = holders_of(estate).callers(scopes)
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
