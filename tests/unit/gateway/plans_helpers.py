"""Plans and clocks for the rate-limit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from interlink.estate.kinds.gateway import Plan
from interlink.gateway.plans.local import LocalLimiter, LocalTable
from interlink.gateway.plans.model import CompiledPlan, compile_plan

# A Monday, 10:00:00 UTC: far from any day or month boundary.
T0 = datetime(2025, 3, 10, 10, 0, 0, tzinfo=UTC).timestamp()


def plan(name: str = "gold", **spec: Any) -> Plan:
    return Plan.model_validate(
        {"apiVersion": "interlink/v1", "kind": "Plan", "metadata": {"name": name}, "spec": spec}
    )


def compiled(**spec: Any) -> CompiledPlan:
    return compile_plan(plan(**spec))


def limiter(max_entries: int = 100_000, **spec: Any) -> LocalLimiter:
    built = compiled(**spec)
    return LocalLimiter(built, LocalTable(built.layout, max_entries))


class Clock:
    """Wall-clock seconds that move only when told."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def allowed(lim: LocalLimiter, clock: Clock, times: list[float], key: str = "c") -> str:
    """``+`` or ``-`` per hit, each at ``T0 + t``."""
    out = []
    for t in times:
        clock.now = T0 + t
        out.append("+" if lim.hit(key, clock.now)[0] else "-")
    return "".join(out)
