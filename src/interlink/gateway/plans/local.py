"""Rate limits and quotas counted in this process: GCRA, sliding window, calendar quotas.

One :class:`LocalTable` per (plan, route group) maps a consumer (or client address) to its
entry, a flat list of floats::

    [day, day_count, month, month_count, *limit slots]

A GCRA limit has one slot, its theoretical arrival time (TAT) in seconds since ``EPOCH``. A
sliding-window limit has three: the index of the current fixed window (``(now - EPOCH) //
per``), the previous window's count and the current one's.

A decision is a tuple ``(allowed, index, remaining, reset, retry)``: the policy the
RateLimit header reports (the one denying, else the one with the fewest requests left), what
it has left, the seconds until it is whole again and, when denied, the
seconds until the request would be allowed.

Nothing is counted for a denied request. The table is bounded: past ``sweep_at`` entries it
drops those whose state has fully recovered (a fresh entry would decide the same), and at
``max_entries`` the oldest tenth, whatever their state.
"""

from __future__ import annotations

import itertools
from typing import Final

from interlink.gateway.plans.model import CALENDAR, DAY, EPOCH, EPSILON, CompiledPlan
from interlink.gateway.state import SharedState, StateKey

Decision = tuple[bool, int, int, float, float]

QUOTA_SLOTS: Final = 4
MIN_SWEEP: Final = 1024
MAX_ENTRIES: Final = 100_000


class LocalTable:
    """Entries of one plan in one route group, kept in ``GatewayServices.state``."""

    __slots__ = ("entries", "layout", "max_entries", "sweep_at")

    def __init__(self, layout: tuple[str, int], max_entries: int = MAX_ENTRIES) -> None:
        self.entries: dict[str, list[float]] = {}
        self.layout = layout
        self.max_entries = max_entries
        self.sweep_at = min(MIN_SWEEP, max_entries)


def table_for(
    state: SharedState, plan: CompiledPlan, group: str, max_entries: int = MAX_ENTRIES
) -> LocalTable:
    """The plan's table for ``group`` from ``state``, so a reload keeps the counts.

    When the plan's limits changed shape (another algorithm or number of limits) the limit
    state starts over, but each consumer's quota counts are carried into the new table.
    """
    key: StateKey[LocalTable] = StateKey("plans", plan.name, group)
    found = state.get(key)
    if found is not None and found.layout == plan.layout:
        found.max_entries = max_entries
        return found
    table = LocalTable(plan.layout, max_entries)
    if found is not None:
        fresh = fresh_entry(plan)
        for name, entry in found.entries.items():
            table.entries[name] = entry[:QUOTA_SLOTS] + fresh[QUOTA_SLOTS:]
    state[key] = table
    return table


def fresh_entry(plan: CompiledPlan) -> list[float]:
    slots = 1 if plan.algorithm == "gcra" else 3
    return [-1.0, 0.0, -1.0, 0.0] + [0.0] * (slots * len(plan.limits))


class LocalLimiter:
    """Decides for one plan in one route group from a :class:`LocalTable`."""

    __slots__ = ("_fresh", "_gcra", "_limits", "_quotas", "daily", "monthly", "plan", "table")

    def __init__(self, plan: CompiledPlan, table: LocalTable) -> None:
        self.plan = plan
        self.table = table
        self.daily = plan.daily
        self.monthly = plan.monthly
        self._quotas = bool(plan.daily or plan.monthly)
        self._gcra = plan.algorithm == "gcra"
        if self._gcra:
            self._limits = tuple((lim.interval, lim.tolerance) for lim in plan.limits)
        else:
            self._limits = tuple((lim.per, float(lim.requests)) for lim in plan.limits)
        self._fresh = fresh_entry(plan)

    def hit(self, key: str, now: float) -> Decision:
        entries = self.table.entries
        entry = entries.get(key)
        if entry is None:
            if len(entries) >= self.table.sweep_at:
                self.sweep(now)
            entry = entries[key] = self._fresh.copy()
        if self._gcra:
            return self._hit_gcra(entry, now)
        return self._hit_window(entry, now)

    def mirror(self, key: str, fields: list[bytes | None], now: float) -> None:
        """Take ``key``'s entry as the shared store last returned it (``script.py``), so a
        request decided here while the store is slow goes on from the shared counts."""
        entry = self._fresh.copy()
        if len(fields) != len(entry):
            return
        for index, value in enumerate(fields):
            if value is not None:
                entry[index] = float(value)
        entries = self.table.entries
        if key not in entries and len(entries) >= self.table.sweep_at:
            self.sweep(now)
        entries[key] = entry

    # --- the two algorithms ------------------------------------------------------------------

    def _hit_gcra(self, entry: list[float], clock: float) -> Decision:
        now = clock - EPOCH
        slot = QUOTA_SLOTS
        for index, (interval, tolerance) in enumerate(self._limits):
            tat = entry[slot]
            if tat < now:  # noqa: PLR1730 (max() is a call: slower on this path)
                tat = now
            ahead = tat + interval - now
            if ahead > tolerance + EPSILON:  # the one compare that decides
                return (False, index, 0, tat - now, ahead - tolerance)
            slot += 1
        quotas = self._quotas
        if quotas:
            denied = self._check_quotas(entry, clock)
            if denied is not None:
                return denied
        best, best_left, best_reset = -1, 1 << 62, 0.0
        slot = QUOTA_SLOTS
        for index, (interval, tolerance) in enumerate(self._limits):
            tat = entry[slot]
            tat = (tat if tat > now else now) + interval
            entry[slot] = tat
            left = int((tolerance - tat + now) / interval + EPSILON)
            if left < best_left:
                best, best_left, best_reset = index, left, tat - now
            slot += 1
        if quotas:
            return self._count_quotas(entry, clock, best, best_left, best_reset)
        return (True, best, best_left, best_reset, 0.0)

    def _hit_window(self, entry: list[float], clock: float) -> Decision:
        now = clock - EPOCH
        slot = QUOTA_SLOTS
        for index, (per, requests) in enumerate(self._limits):
            window = now // per
            stored = entry[slot]
            if stored == window:
                previous, current = entry[slot + 1], entry[slot + 2]
            else:
                previous = entry[slot + 2] if stored == window - 1 else 0.0
                current = 0.0
                entry[slot], entry[slot + 1], entry[slot + 2] = window, previous, 0.0
            start = window * per
            count = previous * (per - (now - start)) / per + current
            if count + 1 > requests + EPSILON:
                if current + 1 > requests:  # wait for this window's count to fade enough
                    retry = start + per + per * (1 - (requests - 1) / current) - now
                else:  # wait for the previous window's count to fade enough
                    retry = start + per * (1 - (requests - 1 - current) / previous) - now
                reset = start + (2 * per if current else per) - now
                return (False, index, 0, reset, retry if retry > 0 else EPSILON)
            slot += 3
        denied = self._check_quotas(entry, clock)
        if denied is not None:
            return denied
        best, best_left, best_reset = -1, 1 << 62, 0.0
        slot = QUOTA_SLOTS
        for index, (per, requests) in enumerate(self._limits):
            current = entry[slot + 2] + 1
            entry[slot + 2] = current
            start = entry[slot] * per
            count = entry[slot + 1] * (per - (now - start)) / per + current
            left = int(requests - count + EPSILON)
            if left < best_left:
                best, best_left, best_reset = index, left, start + 2 * per - now
            slot += 3
        return self._count_quotas(entry, clock, best, best_left, best_reset)

    # --- quotas ------------------------------------------------------------------------------

    def _check_quotas(self, entry: list[float], now: float) -> Decision | None:
        if self.daily:
            day = now // DAY
            if entry[0] == day and entry[1] >= self.daily:
                end = (day + 1) * DAY - now
                return (False, self.plan.daily_index, 0, end, end)
        if self.monthly:
            _start, end, month = CALENDAR.month(now)
            if entry[2] == month and entry[3] >= self.monthly:
                return (False, self.plan.monthly_index, 0, end - now, end - now)
        return None

    def _count_quotas(
        self, entry: list[float], now: float, best: int, left: int, reset: float
    ) -> Decision:
        if self.daily:
            day = now // DAY
            count = entry[1] + 1 if entry[0] == day else 1.0
            entry[0], entry[1] = day, count
            remaining = self.daily - int(count)
            if remaining < left or best < 0:
                best, left, reset = self.plan.daily_index, remaining, (day + 1) * DAY - now
        if self.monthly:
            _start, end, month = CALENDAR.month(now)
            count = entry[3] + 1 if entry[2] == month else 1.0
            entry[2], entry[3] = month, count
            remaining = self.monthly - int(count)
            if remaining < left or best < 0:
                best, left, reset = self.plan.monthly_index, remaining, end - now
        return (True, best, left, reset, 0.0)

    # --- bounded memory ----------------------------------------------------------------------

    def idle(self, entry: list[float], now: float) -> bool:
        """True when a fresh entry would decide exactly as ``entry`` does from ``now`` on."""
        if self.daily and entry[1] and entry[0] == now // DAY:
            return False
        if self.monthly and entry[3] and entry[2] == CALENDAR.month(now)[2]:
            return False
        slot = QUOTA_SLOTS
        now -= EPOCH
        for per_or_interval, _ in self._limits:
            if self._gcra:
                if entry[slot] > now:
                    return False
                slot += 1
            else:
                recent = entry[slot] >= now // per_or_interval - 1
                if recent and (entry[slot + 1] or entry[slot + 2]):
                    return False
                slot += 3
        return True

    def sweep(self, now: float) -> int:
        """Drop idle entries, then the oldest beyond ``max_entries``; the number dropped."""
        table = self.table
        entries = table.entries
        before = len(entries)
        for key in [k for k, entry in entries.items() if self.idle(entry, now)]:
            del entries[key]
        if len(entries) >= table.max_entries:  # make room for a tenth more, oldest out first
            excess = len(entries) - table.max_entries * 9 // 10
            for key in list(itertools.islice(entries, excess)):
                del entries[key]
        table.sweep_at = min(max(MIN_SWEEP, 2 * len(entries)), table.max_entries)
        return before - len(entries)
