"""SLO monitors: multi-window, multi-burn-rate alerts, as in the Google SRE workbook.

The burn rate is how fast the error budget goes: the error ratio over a window divided by the
ratio the objective allows (``1 - objective``); a burn rate of 1 spends exactly the budget in
the SLO's window. The workbook's table for a 30-day window:

=========== ============ ========= =================
long window short window burn rate budget spent
=========== ============ ========= =================
1 hour      5 minutes    14.4      2% (page)
6 hours     30 minutes   6         5% (page)
3 days      6 hours      1         10% (ticket)
=========== ============ ========= =================

A monitor fires when, for any row, both the long and the short window burn at least that fast:
the long window says enough budget went, the short one that it is still going (so the alert
resolves soon after the problem ends). The windows scale with the declared window (28 days:
56 minutes and about 5, …) and are at least a minute, the grain of the signals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from interlink.estate.kinds.data import Slo
from interlink.observe.verdicts import Fact, Verdict
from interlink.store import Bucket
from interlink.store.signals import MINUTE

WORKBOOK_WINDOW: Final = 30 * 24 * 3600.0
#: (long window at a 30-day SLO window, burn rate); the short window is a twelfth of the long.
WORKBOOK_TIERS: Final = ((3600.0, 14.4), (6 * 3600.0, 6.0), (3 * 24 * 3600.0, 1.0))


@dataclass(frozen=True)
class Tier:
    long: int  # seconds
    short: int
    rate: float


def tiers(window: float) -> list[Tier]:
    """The workbook's windows scaled to an SLO ``window`` (seconds), in whole minutes."""
    scale = window / WORKBOOK_WINDOW
    found = []
    for long, rate in WORKBOOK_TIERS:
        scaled = max(MINUTE, round(long * scale / MINUTE) * MINUTE)
        short = max(MINUTE, round(scaled / 12 / MINUTE) * MINUTE)
        found.append(Tier(int(scaled), int(short), rate))
    return found


def windows(slo: Slo) -> set[int]:
    """Every window (seconds) an evaluation of ``slo`` needs the totals of."""
    needed = {int(slo.window)}
    for tier in tiers(slo.window):
        needed.update((tier.long, tier.short))
    return needed


def bad(slo: Slo, bucket: Bucket) -> int:
    """What counts against the objective: failures, or occurrences over the threshold."""
    if slo.indicator == "latency" and slo.latency_threshold is not None:
        return bucket.count - bucket.within(slo.latency_threshold)
    return bucket.errors


def evaluate_slo(monitor: str, slo: Slo, totals: Mapping[int, Bucket], at: datetime) -> Verdict:
    """The verdict on ``slo`` given the target's ``totals`` over each of its :func:`windows`
    (a missing window: nothing happened in it)."""
    allowed = 1.0 - slo.objective / 100.0

    def ratio(window: int) -> float:
        bucket = totals.get(window)
        if bucket is None or bucket.count == 0:
            return 0.0
        return bad(slo, bucket) / bucket.count

    chosen = None
    for tier in tiers(slo.window):
        long, short = ratio(tier.long) / allowed, ratio(tier.short) / allowed
        firing = long >= tier.rate and short >= tier.rate
        if chosen is None or firing:
            chosen = (tier, long, short, firing)
        if firing:
            break  # the fastest-burning tier that fires says most
    assert chosen is not None
    tier, long, short, firing = chosen
    whole = totals.get(int(slo.window))
    spent = 0.0
    if whole is not None and whole.count:
        spent = bad(slo, whole) / (whole.count * allowed)
    facts: dict[str, Fact] = {  # rounded: 1 - 99.9 / 100 is not exactly 0.001 in floats
        "indicator": slo.indicator,
        "objective": slo.objective,
        "error_ratio": round(ratio(tier.long), 9),
        "burn_rate_long": round(long, 6),
        "burn_rate_short": round(short, 6),
        "long_window_seconds": tier.long,
        "short_window_seconds": tier.short,
        "budget_remaining": round(1.0 - spent, 6),
    }
    return Verdict(monitor, "slo", firing, at, facts)
