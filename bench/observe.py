"""Everything observing costs, in one run: tracing, lineage and the monitors.

    .venv/bin/python bench/observe.py [--rounds 3] [--duration 10] [--events 3000]
        [--monitors 1000] [--seeds 5]

(a) gateway throughput and CPU per request with tracing on (sampleRatio 1, every request
    exported to an OTLP sink) against off; (b) publish-to-delivery throughput with tracing and
    record-level lineage on against both off: two ``interlink serve`` processes measured in the
    same rounds (bench/observe_traces.py --lineage). When tracing every request costs the
    gateway more than 10 %, the same rounds are run again at the sampling ratio docs/observe.md
    recommends (0.1), and both are printed. (c) one evaluation pass over ``--monitors`` monitors
    on a week of signals (bench/observe_monitors.py); (d) the anomaly detector's false alerts
    and delays on the synthetic series (the same). Ratios are on/off, measured in the same run;
    the target is at most 10 % cost (a ratio of 0.90 or more, 1.10 or less for CPU); the CPU
    at a steady load is the figure that two identical processes give alike (within ±3 %).
"""

from __future__ import annotations

import argparse
import os
import time

import gateway
import observe_monitors
import observe_traces

#: The sampling ratio docs/observe.md gives for the 10 % budget.
SAMPLED = 0.1
TARGET = 0.90


def costly(summary: observe_traces.Summary) -> bool:
    """Whether tracing costs the gateway more than the 10 % budget, by any figure."""
    rate = gateway.median(summary["gateway throughput on/off"])
    cpu = [
        gateway.median(summary[figure])
        for figure in ("gateway CPU per request on/off", "gateway CPU per request, steady load")
    ]
    return rate < TARGET or max(cpu) > 2 - TARGET


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    observe_traces.options(parser)
    parser.set_defaults(events=3000)
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--targets", type=int, default=250)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    began = time.monotonic()
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n(a, b) tracing, and tracing with record-level lineage on the event path, on/off")
    runs = {1.0: observe_traces.measure(args, 1.0, lineage=True)}
    if costly(runs[1.0]):
        print(f"tracing every request costs over 10 %: again at sampleRatio {SAMPLED:g}")
        runs[SAMPLED] = observe_traces.measure(args, SAMPLED, lineage=True)
    for ratio, summary in runs.items():
        print(f"\nsampleRatio {ratio:g}, lineage on (ratios on/off, median of {args.rounds}):")
        observe_traces.report(summary)
    print(f"\n(c) monitor evaluation (load {os.getloadavg()[0]:.2f})")
    observe_monitors.evaluation(args.monitors, args.targets, None)
    print(f"\n(d) anomaly detection (load {os.getloadavg()[0]:.2f})")
    observe_monitors.detection(args.seeds)
    print(
        f"\nload average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"took {time.monotonic() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
