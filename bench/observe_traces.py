"""What tracing costs: gateway and event throughput with tracing off and on, in one run.

    .venv/bin/python bench/observe_traces.py [--rounds 3] [--duration 10] [--connections 64]
        [--events 5000] [--sample-ratio 1.0] [--lineage]

Two ``interlink serve`` processes on the same estate, one gateway worker each, the second
with ``telemetry.otlpEndpoint`` set to an OTLP/HTTP sink in its own process (it reads each
export and answers 200, so the platform pays the full export and nothing else is charged to
it). Each round measures, for each of the two in turn:

- the gateway: wrk against a route to an nginx upstream answering by itself (bench/gateway.py's
  set-up), requests a second and the CPU the serve process and its children (the exporter
  process, with tracing on) spent per request;
- events: ``--events`` events published with the ``AsyncPublisher`` (batching) to a type with
  a signed webhook subscription to a receiver in this process, timed from the first publish to
  the last delivery, and the CPU the serve process and its children spent per event (the
  steadier figure on a busy machine).

With ``--lineage`` the second also records the event type's subject (record-level lineage), so
"on" is everything observing costs the event path (bench/observe.py runs it so).

It prints each round and the median ratio on/off of each figure; the target is a cost of at
most 10 % (a ratio of 0.90 or more). The two processes share the machine with wrk, the
upstream and the receivers: compare the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

import events
import gateway
from interlink.events.signing import generate_secret
from interlink.sdk import AsyncPublisher
from observe_lineage import SUBJECT_SPEC


def sink(port: int) -> None:
    """An OTLP/HTTP endpoint that takes every export without decoding it."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def write_estate(
    root: Path,
    upstream: int,
    receiver_url: str,
    otlp: str | None,
    ratio: float = 1.0,
    lineage: bool = False,
) -> Path:
    """bench/events.py's estate (an Event, a signed subscription to ``receiver_url``) with a
    gateway route to the upstream, the OTLP endpoint when tracing, and a subject on the Event
    when recording lineage."""
    events.write_estate(root, receiver_url)
    docs = list(yaml.safe_load_all((root / "estate.yaml").read_text()))
    platform = docs[0]["spec"]
    if otlp is not None:
        platform["telemetry"] = {"otlpEndpoint": otlp, "serviceName": "bench", "sampleRatio": ratio}
    if lineage:
        for doc in docs:
            if doc["kind"] == "Event" and doc["metadata"]["name"] == events.LATENCY:
                doc["spec"]["subject"] = dict(SUBJECT_SPEC)
    docs += [
        {
            "apiVersion": "interlink/v1",
            "kind": "System",
            "metadata": {"name": "fast", "owner": "ops"},
            "spec": {"domain": "bench", "baseUrl": f"http://127.0.0.1:{upstream}"},
        },
        {
            "apiVersion": "interlink/v1",
            "kind": "Route",
            "metadata": {"name": "all", "owner": "ops"},
            "spec": {"match": {"path": "/fast"}, "upstreams": [{"system": "fast"}]},
        },
    ]
    (root / "estate.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return root


async def publish_to_delivery(
    url: str, key: str, receiver: events.ThreadReceiver, count: int
) -> float:
    """Events a second from the first publish to the last delivery at the receiver."""
    before = len(receiver.receiver.delivered)
    async with AsyncPublisher(url, source="bench", key=key) as publisher:
        batch = [publisher.event(events.LATENCY, events.data(n)) for n in range(count)]
        began = time.perf_counter()
        await publisher.publish_many(batch)
    deadline = time.monotonic() + 120
    while len(receiver.receiver.delivered) < before + count:
        if time.monotonic() > deadline:
            raise SystemExit("the deliveries did not all arrive within 120 s")
        await asyncio.sleep(0.01)
    return count / (time.perf_counter() - began)


def options(parser: argparse.ArgumentParser) -> None:
    """This bench's options (bench/observe.py takes them too)."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--events", type=int, default=5000, help="events per round")


Summary = dict[str, list[float]]


def measure(args: argparse.Namespace, sample_ratio: float, lineage: bool = False) -> Summary:
    """Rounds of the gateway and the event path, off against on; each figure's ratios on/off
    by round. Prints each round."""
    gateway.ensure_tools()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="interlink-bench-") as tmp:
        root = Path(tmp)
        quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        upstream = gateway.free_port()
        cpus = sorted(os.sched_getaffinity(0))
        conf = gateway.upstream_nginx_config(root, upstream, max(1, len(cpus) - 1))
        gateway.start(stack, gateway.nginx_args(conf), **quiet)
        gateway.wait_port(upstream)
        otlp = gateway.free_port()
        gateway.start(stack, [sys.executable, __file__, "--sink", str(otlp)], **quiet)
        gateway.wait_port(otlp)
        secret = generate_secret()
        receiver = events.ThreadReceiver(secret)
        stack.callback(receiver.stop)
        served: dict[str, tuple[int, int, str]] = {}  # name -> (pid, gateway port, key)
        for name, endpoint in (("off", None), ("on", f"http://127.0.0.1:{otlp}")):
            directory = write_estate(
                root / name,
                upstream,
                receiver.url,
                endpoint,
                sample_ratio,
                lineage and bool(endpoint),
            )
            key = gateway.create_key(directory, "bench-publisher")
            port = gateway.free_port()
            env = {**os.environ, "INTERLINK_SECRET_BENCH_SECRET": secret}
            proc = gateway.start(stack, gateway.serve_args(directory, port), env=env, **quiet)
            gateway.wait_port(port)
            served[name] = (proc.pid, port, key)
            urllib.request.urlopen(f"http://127.0.0.1:{port}/fast/x").read()
        time.sleep(2.0)  # the first spans' export starts the exporter process
        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s; "
            f"sampleRatio {sample_ratio:g}{'; lineage on' if lineage else ''}; "
            f"{args.events:,} events a round; {len(cpus)} CPUs; load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        figures: dict[str, list[tuple[float, float, float, float]]] = {"off": [], "on": []}
        for number in range(1, args.rounds + 1):
            for name in ("off", "on"):
                pid, port, key = served[name]
                # The serve process and its children: the exporter process when tracing.
                family = [pid, *gateway.children(pid)]
                everyone = [p for q, _, _ in served.values() for p in (q, *gateway.children(q))]
                # Each measurement starts idle and counts the work it leaves behind (spans
                # exported, hops written after the last answer), not the next one.
                gateway.settle(everyone)
                result = gateway.wrk(name, f"http://127.0.0.1:{port}/fast/x", args, proxy=family)
                ended = gateway.cpu_seconds(family)
                gateway.settle(everyone)
                left = (gateway.cpu_seconds(family) - ended) / (result.rps * args.duration) * 1e6
                per_request = (result.cpu_us or 0.0) + left
                before = gateway.cpu_seconds(family)
                rate = asyncio.run(
                    publish_to_delivery(f"http://127.0.0.1:{port}", key, receiver, args.events)
                )
                gateway.settle(everyone)
                spent = (gateway.cpu_seconds(family) - before) / args.events * 1e6
                figures[name].append((result.rps, per_request, rate, spent))
            off, on = figures["off"][-1], figures["on"][-1]
            print(
                f"  round {number}: gateway {off[0]:,.0f} -> {on[0]:,.0f} req/s "
                f"({on[0] / off[0]:.2f}), CPU {off[1]:.1f} -> {on[1]:.1f} us/req; "
                f"events {off[2]:,.0f} -> {on[2]:,.0f}/s ({on[2] / off[2]:.2f}), "
                f"CPU {off[3]:.0f} -> {on[3]:.0f} us/event",
                flush=True,
            )
    pairs = list(zip(figures["off"], figures["on"], strict=True))
    return {
        "gateway throughput on/off": [on[0] / off[0] for off, on in pairs],
        "gateway CPU per request on/off": [on[1] / off[1] for off, on in pairs if off[1]],
        "publish -> delivery throughput on/off": [on[2] / off[2] for off, on in pairs],
        "event CPU per event on/off": [on[3] / off[3] for off, on in pairs if off[3]],
    }


def report(summary: Summary) -> None:
    """Each figure's median ratio and range."""
    for label, ratios in summary.items():
        print(
            f"{label:40} median {gateway.median(ratios):.2f} "
            f"(range {min(ratios):.2f}-{max(ratios):.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options(parser)
    parser.add_argument("--sample-ratio", type=float, default=1.0, help="telemetry.sampleRatio")
    parser.add_argument("--lineage", action="store_true", help="record lineage too when on")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        sink(args.sink)
        return
    summary = measure(args, args.sample_ratio, args.lineage)
    print()
    report(summary)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print(json.dumps({k: [round(r, 3) for r in v] for k, v in summary.items()}))


if __name__ == "__main__":
    main()
