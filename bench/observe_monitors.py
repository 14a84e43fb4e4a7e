"""Benchmark the monitors: evaluation time for 1,000 monitors, and anomaly detection on
synthetic series.

    .venv/bin/python bench/observe_monitors.py [--monitors 1000] [--targets 250]
        [--store-url URL] [--seeds 5]

1. **Evaluation.** An estate of ``--targets`` Routes and ``--monitors`` Monitors on them (40%
   SLO, 30% freshness, 30% anomaly) over a store holding a week of their signals as the store
   keeps them (two days of minute buckets, hours before that: about 3,000 rows a target). One
   :class:`MonitorEvaluator` evaluates them all, as a node holding every shard would: the
   first pass (cold: it reads the hourly history and every last success) and the median of
   the next five (warm), as a share of the 30 s between two passes.
2. **Anomaly detection.** Four weeks of synthetic minute buckets (interlink.testing.series: a
   daily cycle, quieter weekends, noise) per seed; the fourth week is replayed as the runtime
   evaluates it (10-minute intervals, hourly baselines) without a shift (false alerts per
   week) and with level shifts at random moments (detection delay, minutes from the shift to
   the first alert; missed: none within a day).

Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from interlink.estate.check import check_estate
from interlink.estate.kinds.data import Anomaly, Monitor
from interlink.observe.anomaly import INTERVAL
from interlink.observe.monitoring import MonitorEvaluator
from interlink.runtime.monitors import EVERY
from interlink.store import Bucket, SignalRow, open_store
from interlink.store.signals import HOUR, LATENCY_BOUNDS, MINUTE
from interlink.testing.series import MONDAY, replay, shape, shifted, synthetic

WEEK = 7 * 86400


def estate(root: Path, monitors: int, targets: int) -> Path:
    parts = [
        "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: ops}\n",
        "apiVersion: interlink/v1\nkind: System\nmetadata: {name: erp, owner: ops}\n"
        "spec: {domain: ops, baseUrl: 'http://127.0.0.1:9'}\n",
    ]
    for i in range(targets):
        parts.append(
            f"apiVersion: interlink/v1\nkind: Route\nmetadata: {{name: r{i}, owner: ops}}\n"
            f"spec: {{match: {{path: /r{i}}}, upstreams: [{{system: erp}}]}}\n"
        )
    for i in range(monitors):
        target = f"  target: {{kind: Route, name: r{i % targets}}}\n"
        if i % 10 < 4:
            kind = "  type: slo\n  slo: {objective: 99.9, window: 7d}\n"
        elif i % 10 < 7:
            kind = "  type: freshness\n  freshness: {maxAge: 1h}\n"
        else:
            kind = "  type: anomaly\n  anomaly: {metric: volume}\n"
        parts.append(
            f"apiVersion: interlink/v1\nkind: Monitor\nmetadata: {{name: m{i}, owner: ops}}\n"
            f"spec:\n{target}{kind}"
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / "estate.yaml").write_text("---\n".join(parts), encoding="utf-8")
    return root


def fill(url: str, targets: int, now: int, seed: int = 1) -> int:
    """A week of signals per target, shaped as the store keeps them; the rows written."""
    rng = random.Random(seed)
    histogram = [0] * len(LATENCY_BOUNDS)
    rows = 0
    with open_store(url) as store:
        store.migrate()
        for i in range(targets):
            batch = []
            for start in range(now - WEEK, now, MINUTE):
                span = MINUTE if start >= now - 2 * 86400 else HOUR
                if span == HOUR and start % HOUR:
                    continue
                count = max(0, round(20 * shape(start) * span / MINUTE * rng.uniform(0.9, 1.1)))
                hist = list(histogram)
                hist[4] = count
                batch.append(
                    SignalRow(
                        "Route",
                        f"r{i}",
                        span,
                        start,
                        Bucket(count, 0, 0.05 * count, hist, start + 1.0),
                    )
                )
            store.signals.record(batch)
            rows += len(batch)
    return rows


def evaluation(monitors: int, targets: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = estate(Path(tmp) / "estate", monitors, targets)
        loaded = check_estate(root).estate
        declared = list(loaded.of(Monitor))
        store_url = url or f"sqlite:///{Path(tmp) / 'store.db'}"
        now = MONDAY + 3 * WEEK + 10 * HOUR
        started = time.perf_counter()
        rows = fill(store_url, targets, now)
        took = time.perf_counter() - started
        print(f"store: {rows:,} signal rows for {targets} targets, written in {took:.1f} s")
        with open_store(store_url) as store:
            clock = [float(now)]
            evaluator = MonitorEvaluator(store, lambda: clock[0])
            started = time.perf_counter()
            verdicts = evaluator.evaluate(loaded, declared)
            cold = time.perf_counter() - started
            warm = []
            for _ in range(5):
                clock[0] += EVERY
                started = time.perf_counter()
                evaluator.evaluate(loaded, declared)
                warm.append(time.perf_counter() - started)
        firing = sum(v.firing for v in verdicts)
        median = statistics.median(warm)
        print(f"evaluation of {len(declared)} monitors ({firing} firing):")
        print(
            f"  cold pass  {cold * 1000:8.0f} ms  ({cold / EVERY:.1%} of the {EVERY:g} s interval)"
        )
        print(f"  warm pass  {median * 1000:8.0f} ms  ({median / EVERY:.1%}), median of 5")
        print(f"  per monitor {median / len(declared) * 1e6:7.0f} us warm")


def detection(seeds: int) -> None:
    cases = [
        ("volume", 0.5),
        ("volume", 2.0),
        ("volume", 0.0),
        ("volume", 0.7),
        ("volume", 1.3),
        ("latency", 2.0),
        ("latency", 1.5),
        ("errors", 5.0),
    ]
    sensitivities = ("low", "medium", "high")
    normal = {seed: synthetic(weeks=4, seed=seed) for seed in range(seeds)}
    start, end = MONDAY + 3 * WEEK, MONDAY + 4 * WEEK
    print(f"anomaly detection, {seeds} seed(s), {INTERVAL // 60}-minute intervals:")
    for sensitivity in sensitivities:
        false = intervals = 0
        for metric in ("volume", "latency", "errors"):
            for seed in range(seeds):
                found = replay(
                    Anomaly.model_validate({"metric": metric, "sensitivity": sensitivity}),
                    normal[seed],
                    start,
                    end,
                )
                false += len(found.fired)
                intervals += found.intervals
        weeks = intervals / (WEEK // INTERVAL + 1)
        print(f"  {sensitivity:<6} false alerts: {false} in {weeks:.0f} metric-weeks with no shift")
    print("  detection delay, minutes from the shift (median / max; missed within a day):")
    rng = random.Random(7)
    for metric, factor in cases:
        line = f"    {metric:<7} x{factor:<4}"
        for sensitivity in sensitivities:
            delays, missed = [], 0
            for seed in range(seeds):
                at = start + 2 * 86400 + rng.randrange(0, 4 * 86400 // MINUTE) * MINUTE
                minutes = shifted(normal[seed], metric, at, factor)  # type: ignore[arg-type]
                anomaly = Anomaly.model_validate({"metric": metric, "sensitivity": sensitivity})
                found = replay(anomaly, minutes, at - INTERVAL, at + 86400)
                after = [t for t in found.fired if t >= at]
                if after:
                    delays.append((after[0] - at) / 60)
                else:
                    missed += 1
            text = f"{statistics.median(delays):.0f}/{max(delays):.0f}" if delays else "-"
            line += f"  {sensitivity}: {text:>9} missed {missed}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--targets", type=int, default=250)
    parser.add_argument("--store-url", default=None, help="default: a SQLite file")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    evaluation(args.monitors, args.targets, args.store_url)
    detection(args.seeds)


if __name__ == "__main__":
    main()
