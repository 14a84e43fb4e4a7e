"""Which recorded signals make up a monitor's target (:mod:`interlink.observe.signals` records
each occurrence under one target only, so the hot path stays one dictionary update):

- an ``Api`` is the sum of the Routes that serve it;
- a ``System`` is the requests the gateway sent it plus the Events it publishes;
- every other kind is itself.
"""

from __future__ import annotations

from interlink.estate.kinds import Event, Route
from interlink.estate.kinds.data import TargetRef
from interlink.estate.model import Estate
from interlink.store.signals import Key


def signal_keys(estate: Estate, target: TargetRef) -> tuple[Key, ...]:
    """The (kind, name) signals summed for ``target``, in a stable order."""
    if target.kind == "Api":
        return tuple(
            sorted(
                ("Route", r.metadata.name) for r in estate.of(Route) if r.spec.api == target.name
            )
        )
    if target.kind == "System":
        events = sorted(
            ("Event", e.metadata.name) for e in estate.of(Event) if e.spec.system == target.name
        )
        return (("System", target.name), *events)
    return ((target.kind, target.name),)
