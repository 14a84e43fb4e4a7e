"""The estate's flows as operators list them: who owns each, what starts its runs, its steps.

Shared by ``interlink flows list`` and ``GET /api/v1/flows``, so both say the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from interlink.estate.kinds.flow import Flow
from interlink.estate.kinds.gateway import Route
from interlink.estate.model import Estate
from interlink.estate.subscriptions import subscriptions


@dataclass(frozen=True)
class FlowEntry:
    name: str
    owner: str
    #: What starts its runs: ``subscription/NAME`` (an event), ``schedule CRON``,
    #: ``route/NAME`` (a request), ``manual`` (the admin API or the CLI only), ``poll NAME``
    #: (a table or HTTP API polled), ``consume NAME`` (a queue or subject consumed).
    triggers: list[str]
    steps: int
    timeout: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "owner": self.owner,
            "triggers": self.triggers,
            "steps": self.steps,
            "timeout": self.timeout,
        }


def catalog(estate: Estate) -> list[FlowEntry]:
    """Every Flow of the estate, by name."""
    starts: dict[str, list[str]] = {}
    for subscription in subscriptions(estate):  # a trigger.event's implied one included
        if subscription.spec.target.flow is not None:
            starts.setdefault(subscription.spec.target.flow, []).append(
                f"subscription/{subscription.name}"
            )
    for route in sorted(estate.of(Route), key=lambda r: r.name):
        if route.spec.flow is not None:
            starts.setdefault(route.spec.flow, []).append(f"route/{route.name}")
    entries = []
    for flow in sorted(estate.of(Flow), key=lambda f: f.name):
        trigger = flow.spec.trigger
        own: list[str] = []
        if trigger is not None and trigger.schedule is not None:
            zone = f" ({trigger.timezone})" if trigger.timezone else ""
            own.append(f"schedule {trigger.schedule}{zone}")
        if trigger is not None and trigger.manual:
            own.append("manual")
        if trigger is not None and trigger.poll is not None:
            own.append(f"poll {trigger.poll.trigger_name}")
        if trigger is not None and trigger.watch is not None:
            own.append(f"watch {trigger.watch.trigger_name}")
        if trigger is not None and trigger.consume is not None:
            own.append(f"consume {trigger.consume.trigger_name}")
        entries.append(
            FlowEntry(
                flow.name,
                flow.metadata.owner or "",
                [*starts.get(flow.name, []), *own],
                len(flow.spec.steps),
                flow.spec.timeout,
            )
        )
    return entries
