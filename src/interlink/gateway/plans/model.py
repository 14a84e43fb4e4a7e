"""A Plan compiled for the request path: its limits, quotas and the names its headers use.

Every policy of a plan (each rate limit, the daily and the monthly quota) has an index and a
name. Indexes ``0 .. len(limits) - 1`` are the limits, then the daily quota, then the monthly
one; the RateLimit headers name them (``"10-per-1s"``, ``"daily"``, ``"monthly"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from interlink.estate.durations import format_duration
from interlink.estate.kinds.gateway import Plan

DAY: Final = 86_400.0
EPSILON: Final = 1e-6  # float slack (1 µs), so 10 requests of 0.1 s fit exactly in 1 s
# Limits count time from here (a whole UTC day), not from 1970: the smaller numbers keep
# sub-microsecond precision through the sums of GCRA, where epoch seconds would not.
EPOCH: Final = 1_599_696_000.0

Algorithm = Literal["gcra", "sliding-window"]


@dataclass(frozen=True, slots=True)
class LimitSpec:
    requests: int
    per: float  # seconds
    burst: int  # GCRA: requests allowed at once from idle; defaults to ``requests``
    interval: float  # GCRA emission interval: per / requests
    tolerance: float  # GCRA: burst * interval, the furthest the TAT may run ahead of now


@dataclass(frozen=True, slots=True)
class CompiledPlan:
    name: str
    algorithm: Algorithm
    limits: tuple[LimitSpec, ...]
    daily: int  # 0: none
    monthly: int  # 0: none
    names: tuple[str, ...]  # one per policy index (limits, then "daily", then "monthly")
    quota: tuple[int, ...]  # q of each policy, by index
    policy_header: bytes  # the RateLimit-Policy field value
    items: tuple[bytes, ...]  # b'"name";r=' per policy index, the RateLimit field's start

    @property
    def daily_index(self) -> int:
        return len(self.limits)

    @property
    def monthly_index(self) -> int:
        return len(self.limits) + 1

    @property
    def layout(self) -> tuple[str, int]:
        """Entries of two plans with the same layout can be read by either."""
        return (self.algorithm, len(self.limits))

    @property
    def empty(self) -> bool:
        return not self.limits and not self.daily and not self.monthly


def compile_plan(plan: Plan) -> CompiledPlan:
    spec = plan.spec
    limits = []
    names: list[str] = []
    quota: list[int] = []
    policies: list[str] = []
    for limit in spec.limits:
        burst = limit.burst or limit.requests
        interval = limit.per / limit.requests
        limits.append(LimitSpec(limit.requests, limit.per, burst, interval, burst * interval))
        name = f"{limit.requests}-per-{format_duration(limit.per)}"
        names.append(name)
        if spec.algorithm == "gcra":
            # q requests at once, refilled over w seconds: the burst and the rate in one.
            q, w = burst, max(1, math.ceil(burst * interval - EPSILON))
        else:
            q, w = limit.requests, max(1, math.ceil(limit.per - EPSILON))
        quota.append(q)
        policies.append(f'"{name}";q={q};w={w}')
    daily = spec.quotas.daily or 0
    monthly = spec.quotas.monthly or 0
    names += ["daily", "monthly"]
    quota += [daily, monthly]
    if daily:
        policies.append(f'"daily";q={daily};w=86400')
    if monthly:
        policies.append(f'"monthly";q={monthly}')  # months differ in length: no fixed w
    return CompiledPlan(
        name=plan.name,
        algorithm=spec.algorithm,
        limits=tuple(limits),
        daily=daily,
        monthly=monthly,
        names=tuple(names),
        quota=tuple(quota),
        policy_header=", ".join(policies).encode("ascii"),
        items=tuple(f'"{n}";r='.encode("ascii") for n in names),
    )


class Calendar:
    """UTC months as ``(start, end, id)`` in epoch seconds, the current one cached.

    Months are the only period that needs the calendar; days are ``now // 86400``. The cache
    is one tuple, replaced whole, so readers on other threads never see half of an update.
    """

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current = (0.0, 0.0, 0)

    def month(self, now: float) -> tuple[float, float, int]:
        """``(start, end, id)`` of the month ``now`` falls in; id = year * 12 + month - 1."""
        current = self.current
        if current[0] <= now < current[1]:
            return current
        moment = datetime.fromtimestamp(now, UTC)
        year, month = moment.year, moment.month
        first = datetime(year, month, 1, tzinfo=UTC)
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        current = (first.timestamp(), following.timestamp(), year * 12 + month - 1)
        self.current = current
        return current


CALENDAR: Final = Calendar()
