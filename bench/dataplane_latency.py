"""How long a revision applied on a control plane takes to run on a data-plane node.

    .venv/bin/python bench/dataplane_latency.py [--store-url URL] [--rounds 20]

Starts a control plane (`interlink serve DIR`, on SQLite beside the estate unless --store-url
says otherwise) and a data-plane node (`interlink serve --control-plane`) with a dataplane
token, then, each round, changes a Plan's limit in the control plane's directory, reloads it
through its admin API and times, from its answer, until the data-plane node's `/readyz` names
the new revision (polled every 10 ms). Reports the median, 90th percentile and worst, and their
ratio to the control plane's own poll interval. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from follow_latency import estate  # the same small estate (bench/ is the script's folder)
from interlink.runtime.runtime import POLL_INTERVAL
from interlink.testing.processes import InterlinkProcess, free_port, run_interlink

QUIET = {"INTERLINK_GATEWAY_LISTEN": "127.0.0.1:0", "INTERLINK_LOG_LEVEL": "warning"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store-url", help="the control plane's store (default: SQLite)")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dataplane-"))
    cp_dir = estate(work / "cp", 1000)
    store = ["--store-url", args.store_url] if args.store_url else []
    cp_admin = f"127.0.0.1:{free_port()}"
    cp = InterlinkProcess(
        ["serve", str(cp_dir), *store, "--admin-listen", cp_admin], env=QUIET
    ).start()
    procs = [cp]
    try:
        token = cp.wait_for(r"admin token \(shown once, store it now\): (\S+)", 60).group(1)
        created = run_interlink(
            ["admin", "token", "create", "--role", "dataplane", "--name", "bench", *store],
            cwd=cp_dir,
        )
        created.check_returncode()
        dp_admin = f"127.0.0.1:{free_port()}"
        dp = InterlinkProcess(
            ["serve", "--control-plane", f"http://{cp_admin}", "--admin-listen", dp_admin],
            env={**QUIET, "INTERLINK_CONTROL_PLANE_TOKEN": created.stdout.strip()},
            cwd=work,
        ).start()
        procs.append(dp)
        dp.wait_for(r"admin API on http://", 60)
        auth = {"Authorization": f"Bearer {token}"}
        took: list[float] = []
        for round in range(args.rounds):
            estate(cp_dir, 1001 + round)
            answer = httpx.post(f"http://{cp_admin}/api/v1/estate/reload", headers=auth, timeout=30)
            answer.raise_for_status()
            applied = time.monotonic()
            wanted = answer.json()["revision"]["id"]
            while (
                httpx.get(f"http://{dp_admin}/readyz", timeout=5).json().get("revision") != wanted
            ):
                time.sleep(0.01)
            took.append(time.monotonic() - applied)
        took.sort()
        poll = POLL_INTERVAL[
            "postgres" if args.store_url and "postgres" in args.store_url else "sqlite"
        ]
        median, p90, worst = statistics.median(took), took[int(len(took) * 0.9) - 1], took[-1]
        print(
            f"{args.rounds} revisions taken by the data-plane node: median {median * 1000:.0f} ms, "
            f"p90 {p90 * 1000:.0f} ms, worst {worst * 1000:.0f} ms "
            f"(median / the store's poll interval of {poll:.0f} s: {median / poll:.2f})"
        )
    finally:
        for proc in procs:
            proc.stop()


if __name__ == "__main__":
    main()
