"""The error budgets of the SLO monitors, for the monitors page: for each, the share of its
budget left over its window (the burn-down) and how fast each step burned it (the burn rate),
drawn from the same per-minute signals the monitors are evaluated on (observe/slo_history.py).

The signals are read in one grouped query per distinct SLO window, whatever the number of
monitors; each monitor's target sums its signals as the evaluator does (observe/targets.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from interlink.admin.console.charts import Series, line_chart
from interlink.estate.kinds.data import Monitor, Slo
from interlink.estate.model import Estate
from interlink.observe.slo import tiers
from interlink.observe.slo_history import BurnPoint, burn_history, history_step
from interlink.observe.targets import signal_keys
from interlink.store import Bucket, Store
from interlink.store.signals import MINUTE, Key


@dataclass(frozen=True)
class Budget:
    """One SLO monitor's budget charts and the figures they draw."""

    monitor: str
    slo: Slo
    window: str  # the SLO's window in words: "28 days"
    remaining: float | None
    burn_down: Markup
    burn_rate: Markup
    points: list[dict[str, Any]]


def _summed(found: dict[Key, dict[int, Bucket]], keys: Sequence[Key]) -> dict[int, Bucket]:
    out: dict[int, Bucket] = {}
    for key in keys:
        for start, bucket in found.get(key, {}).items():
            out.setdefault(start, Bucket()).add(bucket)
    return out


def in_words(seconds: float) -> str:
    """A window in the largest whole unit: "28 days", "6 hours", "90 minutes"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{seconds:g} seconds"


def _percent(v: float) -> str:
    return f"{v * 100:g}%"


def _charts(
    name: str, slo: Slo, points: list[BurnPoint], span: tuple[int, int], step: int
) -> tuple[Markup, Markup]:
    left = [p.remaining for p in points if p.remaining is not None]
    last = left[-1] if left else None
    said = "nothing measured yet" if last is None else f"{_percent(round(last, 4))} left now"
    burn_down = line_chart(
        f"budget-{name}",
        f"Error budget of {name} left over its window",
        f"The share of the error budget left after each {step // 60}-minute step of the "
        f"{in_words(slo.window)} window, from 100% at its start; {said}.",
        [Series("budget left", [(p.start, p.remaining) for p in points], "s1")],
        span,
        _percent,
        low=min([0.0, *left]),
        high=1.0,
        marks=[(0.0, "budget spent")],
    )
    rates = [p.burn for p in points if p.burn is not None]
    fastest = tiers(slo.window)[0].rate
    burn_rate = line_chart(
        f"burn-{name}",
        f"Burn rate of {name}",
        f"How fast each step spent the budget: 1 spends exactly the budget over the window; "
        f"the monitor pages when an hour-scale window burns at {fastest:g} or more"
        + (f"; the fastest step burned at {max(rates):.3g}." if rates else "; nothing measured."),
        [Series("burn rate", [(p.start, p.burn) for p in points], "s2")],
        span,
        lambda v: f"{v:g}x",
        marks=[(1.0, "1x: the budget's pace"), (fastest, f"{fastest:g}x: pages")],
    )
    return burn_down, burn_rate


def _read(store: Store, estate: Estate, monitors: list[Monitor], now: float) -> list[Budget]:
    until = int(now) // MINUTE * MINUTE + MINUTE
    by_window: dict[float, list[Monitor]] = {}
    for m in monitors:
        assert m.spec.slo is not None
        by_window.setdefault(m.spec.slo.window, []).append(m)
    out = []
    for window, group in by_window.items():
        step = history_step(window)
        since = until - int(window)
        since -= since % step
        keyed = [(m, signal_keys(estate, m.spec.target)) for m in group]
        by_kind: dict[str, set[str]] = {}
        for _, keys in keyed:
            for kind, name in keys:
                by_kind.setdefault(kind, set()).add(name)
        found: dict[Key, dict[int, Bucket]] = {}
        for kind, names in sorted(by_kind.items()):  # by the key: the targets' rows only
            found.update(store.signals.series(since, until, step, sorted(names), kind))
        for monitor, keys in keyed:
            slo = monitor.spec.slo
            assert slo is not None
            points = burn_history(slo, _summed(found, keys), since, until, step)
            down, rate = _charts(monitor.metadata.name, slo, points, (since, until), step)
            left = [p.remaining for p in points if p.remaining is not None]
            table = [
                {"at": datetime.fromtimestamp(p.start, UTC).strftime("%Y-%m-%d %H:%M"),
                 "count": p.count, "bad": p.bad, "remaining": p.remaining, "burn": p.burn}
                for p in points
                if p.count
            ]  # fmt: skip
            out.append(
                Budget(
                    monitor.metadata.name,
                    slo,
                    in_words(slo.window),
                    left[-1] if left else None,
                    down,
                    rate,
                    table,
                )
            )
    return sorted(out, key=lambda b: b.monitor)


def budgets(store: Store, estate: Estate) -> list[Budget]:
    """Every SLO monitor's budget, by monitor name (blocking: run it in a worker thread)."""
    monitors = [m for m in estate.of(Monitor) if m.spec.slo is not None]
    return _read(store, estate, monitors, time.time())
