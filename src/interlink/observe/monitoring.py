"""Evaluating Monitors over the signals in the store: one :class:`MonitorEvaluator` per set of
monitors evaluated together (a node's share of them), called every pass.

Each pass reads what the evaluations need in a few grouped queries, whatever the number of
monitors: the totals of each distinct SLO window (a long one read again only once a small share
of it has passed, :data:`REREAD_SHARE`), the last intervals for the anomaly monitors and the
last successes since the previous pass. The hourly history the baselines learn from is read
once an hour, and each baseline is learned once an hour. Evaluating is blocking: run it in a
worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from interlink.estate.kinds.data import Monitor
from interlink.estate.model import Estate
from interlink.observe.anomaly import CONSECUTIVE, INTERVAL, Baseline, Metric, baseline
from interlink.observe.anomaly import evaluate_anomaly as anomaly_verdict
from interlink.observe.freshness import evaluate_freshness
from interlink.observe.signals import FLUSH_INTERVAL
from interlink.observe.slo import evaluate_slo, windows
from interlink.observe.targets import signal_keys
from interlink.observe.verdicts import Verdict
from interlink.store import Bucket, MonitorState, Store
from interlink.store.signals import HOUR, HOURS_KEPT, MINUTE, Key

#: An SLO window's totals are read again once this share of the window has passed: a 28-day
#: window every 5.6 hours, 6 hours every 3 minutes, a 5-minute window every pass. A burn rate
#: over a long window hardly moves in the meantime, and the long windows are the costly reads.
REREAD_SHARE: Final = 1 / 120
#: Seconds after an interval ends before it is scored: the processes write their signals every
#: FLUSH_INTERVAL, and an interval scored before they all did would look quiet.
SETTLE: Final = 2 * FLUSH_INTERVAL


def _sum(found: dict[Key, Bucket], keys: Sequence[Key]) -> Bucket:
    total = Bucket()
    for key in keys:
        bucket = found.get(key)
        if bucket is not None:
            total.add(bucket)
    return total


class MonitorEvaluator:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._watched_since: dict[str, float] = {}  # monitor → its first evaluation
        self._last_seen: dict[Key, float] = {}
        self._seen_names: set[str] = set()  # names whose whole history was read for last_seen
        self._seen_until = 0  # last successes are read from here on (with a margin)
        self._hours: dict[Key, dict[int, Bucket]] = {}
        self._hours_at: tuple[int, frozenset[str]] | None = None  # (hour, names) they were read for
        self._baselines: dict[tuple[tuple[Key, ...], Metric, int], Baseline | None] = {}
        # window → (read at, for names, totals)
        self._read: dict[int, tuple[float, list[str], dict[Key, Bucket]]] = {}

    def evaluate(self, estate: Estate, monitors: Sequence[Monitor]) -> list[Verdict]:
        """Each monitor's verdict now."""
        now = self.clock()
        at = datetime.fromtimestamp(now, UTC)
        keyed = [(m, signal_keys(estate, m.spec.target)) for m in monitors]
        names = sorted({name for _, keys in keyed for _, name in keys})
        for monitor in monitors:
            self._watched_since.setdefault(monitor.metadata.name, now)
        needs_history = any(m.spec.anomaly or m.spec.freshness for m in monitors)
        if needs_history:
            self._read_hours(now, names)
        totals = self._totals(now, names, [m for m in monitors if m.spec.slo is not None])
        recent: dict[Key, dict[int, Bucket]] = {}
        # An interval counts once every process has written it out (two flushes after it).
        end = int(now - SETTLE) // INTERVAL * INTERVAL
        if any(m.spec.anomaly is not None for m in monitors):
            since = end - CONSECUTIVE * INTERVAL
            recent = self.store.signals.series(since, end, INTERVAL, names)
        if any(m.spec.freshness is not None for m in monitors):
            self._read_last_seen(now, names)
        verdicts = []
        for monitor, keys in keyed:
            name, spec = monitor.metadata.name, monitor.spec
            if spec.slo is not None:
                per_window = {w: _sum(found, keys) for w, found in totals.items()}
                verdicts.append(evaluate_slo(name, spec.slo, per_window, at))
            elif spec.freshness is not None:
                verdicts.append(self._freshness(monitor, keys, now))
            elif spec.anomaly is not None:
                intervals = [
                    _sum({k: recent.get(k, {}).get(start, Bucket()) for k in keys}, keys)
                    for start in range(end - CONSECUTIVE * INTERVAL, end, INTERVAL)
                ]
                base = self._baseline(keys, spec.anomaly.metric, now)
                verdicts.append(anomaly_verdict(name, spec.anomaly, base, intervals, end, at))
        declared = {m.metadata.name for m in monitors}
        for gone in set(self._watched_since) - declared:
            del self._watched_since[gone]
        return verdicts

    def _freshness(self, monitor: Monitor, keys: tuple[Key, ...], now: float) -> Verdict:
        spec = monitor.spec
        assert spec.freshness is not None
        seen = [self._last_seen[k] for k in keys if k in self._last_seen]
        base = self._baseline(keys, "volume", now)
        return evaluate_freshness(
            monitor.metadata.name,
            spec.target.kind,
            spec.freshness.max_age,
            max(seen) if seen else None,
            self._watched_since[monitor.metadata.name],
            now,
            None if base is None else base.expected(now) * 60.0,
        )

    # --- reading the store -------------------------------------------------------------------

    def _totals(
        self, now: float, names: list[str], slos: Sequence[Monitor]
    ) -> dict[int, dict[Key, Bucket]]:
        needed: set[int] = set()
        for monitor in slos:
            assert monitor.spec.slo is not None
            needed |= windows(monitor.spec.slo)
        until = int(now) // MINUTE * MINUTE + MINUTE  # the current minute, so far
        found = {}
        for window in sorted(needed):
            read = self._read.get(window)
            if read is not None and read[1] == names and now - read[0] < window * REREAD_SHARE:
                found[window] = read[2]
                continue
            found[window] = self.store.signals.totals(until - window, until, names)
            self._read[window] = (now, names, found[window])
        for window in set(self._read) - needed:
            del self._read[window]
        return found

    def _read_last_seen(self, now: float, names: list[str]) -> None:
        new = [n for n in names if n not in self._seen_names]
        if new:  # their whole history, once
            self._last_seen.update(self.store.signals.last_seen(new))
            self._seen_names.update(new)
        # Since the previous pass, with a margin for buckets written late (flushes).
        since = max(0, self._seen_until - 5 * MINUTE) // MINUTE * MINUTE
        known = [n for n in names if n not in new]
        for key, bucket in self.store.signals.totals(since, int(now) + MINUTE, known).items():
            if bucket.last_seen is not None:
                self._last_seen[key] = max(bucket.last_seen, self._last_seen.get(key, 0.0))
        self._seen_until = int(now)

    def _read_hours(self, now: float, names: list[str]) -> None:
        hour = int(now) // HOUR * HOUR
        wanted = (hour, frozenset(names))
        if self._hours_at == wanted:
            return
        self._hours = self.store.signals.series(hour - HOURS_KEPT, hour, HOUR, names)
        self._hours_at = wanted
        self._baselines.clear()

    def _baseline(self, keys: tuple[Key, ...], metric: Metric, now: float) -> Baseline | None:
        hour = int(now) // HOUR * HOUR
        cached = (keys, metric, hour)
        if cached not in self._baselines:
            hours: dict[int, Bucket] = {}
            for key in keys:
                for start, bucket in self._hours.get(key, {}).items():
                    hours.setdefault(start, Bucket()).add(bucket)
            self._baselines[cached] = baseline(metric, hours, until=hour)
        return self._baselines[cached]


@dataclass(frozen=True)
class MonitorStatus:
    """A declared Monitor with its latest verdict (None: not evaluated yet)."""

    monitor: Monitor
    state: MonitorState | None

    def document(self) -> dict[str, Any]:
        """As the admin API and ``interlink monitors list --format json`` give it."""
        spec, state = self.monitor.spec, self.state
        return {
            "name": self.monitor.metadata.name,
            "type": spec.type.value,
            "target": {"kind": spec.target.kind, "name": spec.target.name},
            "severity": spec.severity,
            "state": "pending" if state is None else "firing" if state.firing else "ok",
            "evaluatedAt": None if state is None else state.at.isoformat(timespec="seconds"),
            "facts": {} if state is None else state.facts,
        }


def statuses(estate: Estate, states: Sequence[MonitorState]) -> list[MonitorStatus]:
    """Every Monitor of ``estate`` by name, with its stored state; states of monitors no
    longer declared are left out."""
    by_name = {s.monitor: s for s in states}
    monitors = sorted(estate.of(Monitor), key=lambda m: m.metadata.name)
    return [MonitorStatus(m, by_name.get(m.metadata.name)) for m in monitors]
