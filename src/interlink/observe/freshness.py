"""Freshness monitors: a target that has not done its thing (an Event published, a
Subscription delivered, a Flow run, a DataProduct refreshed, a Route requested) for longer than
``maxAge`` fires; the verdict says what is usual at this hour of the week, so the alert can tell
"quiet as usual on a Sunday night" from "quiet when it usually is busy".

A target never seen is aged from when its monitor was first evaluated: it fires once
``maxAge`` passes with nothing, not at once when the platform starts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from interlink.observe.verdicts import Verdict

#: What each target kind's freshness is about, as the verdict's ``signal``.
SIGNALS: Final = {
    "Event": "published",
    "Subscription": "delivered",
    "DataProduct": "refreshed",
    "Flow": "ran",
    "Route": "requested",
    "Api": "requested",
    "System": "requested",
}


def evaluate_freshness(
    monitor: str,
    kind: str,
    max_age: float,
    last_seen: float | None,
    watched_since: float,
    now: float,
    usual_per_hour: float | None,
) -> Verdict:
    """The verdict for a target last successful at ``last_seen`` (epoch seconds, None: never
    since ``watched_since``), at ``now``."""
    age = None if last_seen is None else max(0.0, now - last_seen)
    quiet = age if age is not None else now - watched_since
    facts = {
        "last_seen": None
        if last_seen is None
        else datetime.fromtimestamp(last_seen, UTC).isoformat(timespec="seconds"),
        "age_seconds": age,
        "max_age_seconds": max_age,
        "usual_per_hour": usual_per_hour,
        "signal": SIGNALS[kind],
    }
    return Verdict(monitor, "freshness", quiet > max_age, datetime.fromtimestamp(now, UTC), facts)
