"""An SLO's error budget over its window, step by step: how much of the budget was left after
each step and how fast each step burned it, for the burn-down and burn-rate charts.

Both use the definitions of :mod:`interlink.observe.slo`: a step's burn rate is its bad share
divided by the share the objective allows; the budget left at a moment is one minus what went
bad from the window's start until then, over what the objective allows of what happened in that
time. At the window's end it is the monitor's ``budget_remaining`` fact (up to the step's
alignment). It is below zero once the budget is overspent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from interlink.estate.kinds.data import Slo
from interlink.observe.route_figures import slots
from interlink.observe.slo import bad
from interlink.store import Bucket
from interlink.store.signals import HOUR, MINUTE, MINUTES_KEPT

#: About this many steps across a window: enough for a chart's width, few rows to read.
STEPS: Final = 96


def history_step(window: float) -> int:
    """The step (seconds) of a window's history: whole minutes while minute buckets cover the
    window, whole hours beyond (the stored spans it must be a multiple of)."""
    grain = MINUTE if window <= MINUTES_KEPT else HOUR
    return max(grain, round(window / STEPS / grain) * grain)


@dataclass(frozen=True)
class BurnPoint:
    start: int  # epoch seconds
    count: int
    bad: int
    remaining: float | None  # share of the budget left after this step; None: nothing yet
    burn: float | None  # this step's burn rate; None when nothing happened in it


def burn_history(
    slo: Slo, found: Mapping[int, Bucket], since: int, until: int, step: int
) -> list[BurnPoint]:
    """Each step of [since, until) with the budget left after it and its burn rate."""
    allowed = 1.0 - slo.objective / 100.0
    total = spent = 0
    out = []
    for start, bucket in slots(found, since, until, step):
        worse = bad(slo, bucket)
        total += bucket.count
        spent += worse
        remaining = 1.0 - spent / (total * allowed) if total else None
        burn = worse / bucket.count / allowed if bucket.count else None
        out.append(BurnPoint(start, bucket.count, worse, remaining, burn))
    return out
