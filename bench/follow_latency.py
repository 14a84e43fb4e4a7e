"""How long a revision applied on one node takes to run on another on the same store.

    .venv/bin/python bench/follow_latency.py --store-url sqlite:///tmp/follow.db [--rounds 20]
    .venv/bin/python bench/follow_latency.py --store-url "postgresql://…/db?schema=bench"

Starts two `interlink serve` processes on the store, each from its own copy of a small estate,
then, each round, changes a Plan's limit in node A's directory, reloads A through its admin API
and times, from A's answer, until node B's `/readyz` names the new revision (polled every
10 ms). Reports the median, 90th percentile and worst. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from interlink.testing.processes import InterlinkProcess, free_port


def estate(root: Path, per_minute: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    docs = [
        {"kind": "Platform", "metadata": {"name": "bench"}, "spec": {}},
        {"kind": "Team", "metadata": {"name": "team"}},
        {
            "kind": "System",
            "metadata": {"name": "crm", "owner": "team"},
            "spec": {"domain": "bench", "baseUrl": "http://127.0.0.1:9"},
        },
        {
            "kind": "Route",
            "metadata": {"name": "orders", "owner": "team"},
            "spec": {"match": {"path": "/orders"}, "upstreams": [{"system": "crm"}]},
        },
        {
            "kind": "Plan",
            "metadata": {"name": "anonymous"},
            "spec": {"limits": [{"requests": per_minute, "per": "1m"}]},
        },
    ]
    text = "\n---\n".join(json.dumps({"apiVersion": "interlink/v1", **d}) for d in docs)
    (root / "estate.yaml").write_text(text + "\n")
    return root


def start(directory: Path, store_url: str) -> tuple[InterlinkProcess, str]:
    admin = f"127.0.0.1:{free_port()}"
    proc = InterlinkProcess(
        ["serve", str(directory), "--store-url", store_url, "--admin-listen", admin],
        env={"INTERLINK_GATEWAY_LISTEN": "127.0.0.1:0", "INTERLINK_LOG_LEVEL": "warning"},
    ).start()
    proc.wait_for(r"admin API on http://", timeout=60)
    return proc, f"http://{admin}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="follow-"))
    a_dir, b_dir = estate(work / "a", 1000), estate(work / "b", 1000)
    a, a_admin = start(a_dir, args.store_url)
    procs = [a]
    try:
        token = a.wait_for(r"admin token \(shown once, store it now\): (\S+)").group(1)
        b, b_admin = start(b_dir, args.store_url)
        procs.append(b)
        auth = {"Authorization": f"Bearer {token}"}
        took: list[float] = []
        for round in range(args.rounds):
            estate(a_dir, 1001 + round)
            answer = httpx.post(f"{a_admin}/api/v1/estate/reload", headers=auth, timeout=30)
            answer.raise_for_status()
            applied = time.monotonic()
            wanted = answer.json()["revision"]["id"]
            while httpx.get(f"{b_admin}/readyz", timeout=5).json().get("revision") != wanted:
                time.sleep(0.01)
            took.append(time.monotonic() - applied)
        took.sort()
        print(
            f"{args.rounds} revisions followed: median {statistics.median(took) * 1000:.0f} ms, "
            f"p90 {took[int(len(took) * 0.9) - 1] * 1000:.0f} ms, worst {took[-1] * 1000:.0f} ms"
        )
    finally:
        for proc in procs:
            proc.stop()


if __name__ == "__main__":
    main()
