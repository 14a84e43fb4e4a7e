"""What tracing costs: gateway and event throughput with tracing off and on, in one run.

    .venv/bin/python bench/observe_traces.py [--rounds 3] [--duration 10] [--connections 64]
        [--events 5000] [--steady-rate 2000] [--sample-ratio 1.0] [--lineage] [--same]
        [--random-subjects]

Two ``interlink serve`` processes on the same estate, one gateway worker each, the second
with ``telemetry.otlpEndpoint`` set to an OTLP/HTTP sink in its own process (it reads each
export and answers 200, so the platform pays the full export and nothing else is charged to
it). Each round measures, for each of the two in turn (which goes first alternates by round):

- the gateway: wrk against a route to an nginx upstream answering by itself (bench/gateway.py's
  set-up), requests a second and the CPU the serve process and all it started (its gateway
  worker, and with tracing on each one's exporter process) spent per request;
- events: ``--events`` events published with the ``AsyncPublisher`` (batching) to a type with
  a signed webhook subscription to a receiver in this process, timed from the first publish to
  the last delivery, and the CPU per event.

With two CPUs or more, the process measured runs alone on the last one meanwhile, and
everything else (the other process, wrk, the upstream, this process) on the others.

Then both at once, under one steady load well under what either can take:

- the gateway: for each, wrk's 8 connections each pausing 2 ms before every request (about
  2,700 requests a second here), and the CPU per request;
- events: ``--events`` events to each, published in batches of 50 at ``--steady-rate`` a
  second on schedule (an open loop), and the CPU per event.

At full speed every stage of a saturated process batches what waits, and how much waits moves
with what else the two cores run: the CPU per request or event moves with it, by a third or
more from round to round between two identical processes (``--same`` runs both untraced and
prints that spread). Under one steady load at the same time, whatever the machine does, it
does to both: the CPU per request or event is the figure that shows what tracing adds.

With ``--lineage`` the second also records the event type's subject (record-level lineage), so
"on" is everything observing costs the event path (bench/observe.py runs it so). The n-th event
is the n-th customer's, so a write's subjects follow each other in the subject index; with
``--random-subjects`` each is drawn at random from a million, as an estate's customers come,
and each write's index entries land all over the index, which costs more as it grows.

It prints each round and the median ratio on/off of each figure; the target is a cost of at
most 10 % (a ratio of 0.90 or more; 1.10 or less for CPU). The two processes share the machine
with wrk, the upstream and the receivers: compare the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import yaml

import events
import gateway
from interlink.events.signing import generate_secret
from interlink.sdk import AsyncPublisher
from observe_lineage import SUBJECT_SPEC

#: The steady load: wrk's connections each pause this long before every request (about
#: 2,700 requests a second here), and events published in batches of this many.
STEADY_CONNECTIONS = 8
STEADY_DELAY_MS = 2
STEADY_BATCH = 50


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


#: The customers of ``--random-subjects``: drawn at random from a million, the same draws in
#: every run.
_CUSTOMERS = random.Random(1)


def random_subject(n: int) -> dict[str, Any]:
    """bench/events.py's event data for a customer drawn at random, not the n-th."""
    return {**events.data(n), "customerId": f"C{_CUSTOMERS.randrange(1_000_000):06d}"}


def payloads(args: argparse.Namespace) -> Callable[[int], dict[str, Any]]:
    """The n-th event's data: its customer the n-th, or with ``--random-subjects`` any."""
    return random_subject if args.random_subjects else events.data


async def publish_to_delivery(
    url: str,
    key: str,
    receiver: events.ThreadReceiver,
    count: int,
    data: Callable[[int], dict[str, Any]] = events.data,
) -> float:
    """Events a second from the first publish to the last delivery at the receiver."""
    before = len(receiver.receiver.delivered)
    async with AsyncPublisher(url, source="bench", key=key) as publisher:
        batch = [publisher.event(events.LATENCY, data(n)) for n in range(count)]
        began = time.perf_counter()
        await publisher.publish_many(batch)
    await delivered(receiver, before + count)
    return count / (time.perf_counter() - began)


async def delivered(receiver: events.ThreadReceiver, total: int) -> None:
    """Return once the receiver holds ``total`` deliveries; stop the bench after 120 s."""
    deadline = time.monotonic() + 120
    while len(receiver.receiver.delivered) < total:
        if time.monotonic() > deadline:
            raise SystemExit("the deliveries did not all arrive within 120 s")
        await asyncio.sleep(0.01)


async def publish_steadily(
    served: dict[str, tuple[int, int, str]],
    receiver: events.ThreadReceiver,
    count: int,
    rate: float,
    data: Callable[[int], dict[str, Any]] = events.data,
) -> None:
    """``count`` events published to each process at ``rate`` a second, in batches of
    ``STEADY_BATCH`` sent on schedule whatever the last one's answer took (an open loop),
    until all are delivered."""
    before = len(receiver.receiver.delivered)

    async def publish(port: int, key: str) -> None:
        url = f"http://127.0.0.1:{port}"
        async with AsyncPublisher(url, source="bench", key=key) as publisher:
            began = time.perf_counter()
            sent = []
            for start in range(0, count, STEADY_BATCH):
                batch = [
                    publisher.event(events.LATENCY, data(n))
                    for n in range(start, min(count, start + STEADY_BATCH))
                ]
                sent.append(asyncio.ensure_future(publisher.publish_many(batch)))
                ahead = began + (start + STEADY_BATCH) / rate - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await asyncio.gather(*sent)

    await asyncio.gather(*(publish(port, key) for _, port, key in served.values()))
    await delivered(receiver, before + count * len(served))


def options(parser: argparse.ArgumentParser) -> None:
    """This bench's options (bench/observe.py takes them too)."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--events", type=int, default=5000, help="events per round")
    parser.add_argument(
        "--steady-rate", type=float, default=2000.0, help="events a second at the steady load"
    )
    parser.add_argument(
        "--same", action="store_true", help="both processes untraced: the bench's own spread"
    )
    parser.add_argument(
        "--random-subjects",
        action="store_true",
        help="each event's customer drawn at random from a million, not the n-th",
    )


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
        upstream_proc = gateway.start(stack, gateway.nginx_args(conf), **quiet)
        gateway.wait_port(upstream)
        otlp = gateway.free_port()
        sink_proc = gateway.start(stack, [sys.executable, __file__, "--sink", str(otlp)], **quiet)
        gateway.wait_port(otlp)
        secret = generate_secret()
        receiver = events.ThreadReceiver(secret)
        stack.callback(receiver.stop)
        served: dict[str, tuple[int, int, str]] = {}  # name -> (pid, gateway port, key)
        traced = None if args.same else f"http://127.0.0.1:{otlp}"
        for name, endpoint in (("off", None), ("on", traced)):
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
        figures: dict[str, list[Figures]] = {"off": [], "on": []}
        steady: list[dict[str, tuple[float, float]]] = []
        measured = {cpus[-1]} if len(cpus) >= 2 else None
        load = set(cpus[:-1])
        if measured is not None:  # this process (the publisher, the receiver), the upstream
            # back on every CPU after, for what this process measures next (bench/observe.py)
            stack.callback(gateway.pin, os.getpid(), set(cpus))
            for pid in (os.getpid(), *descendants(upstream_proc.pid), sink_proc.pid):
                gateway.pin(pid, load)
        script = root / "steady.lua"
        script.write_text(f"function delay() return {STEADY_DELAY_MS} end\n")
        for number in range(1, args.rounds + 1):
            # Each in turn first: a machine drifting within a round favours neither.
            for name in ("off", "on") if number % 2 else ("on", "off"):
                pid, port, key = served[name]
                # The serve process and all it started: its gateway worker, and each one's
                # exporter process when tracing.
                family = descendants(pid)
                everyone = [p for q, _, _ in served.values() for p in descendants(q)]
                if measured is not None:
                    # The measured process alone on the last CPU, everything else on the
                    # others, as bench/gateway.py places the proxy under test.
                    for other in everyone:
                        gateway.pin(other, measured if other in family else load)
                url = f"http://127.0.0.1:{port}"
                figures[name].append(
                    one_round(args, url, key, receiver, family, everyone, load or None)
                )
            steady.append(steady_round(args, served, receiver, script))
            off, on = figures["off"][-1], figures["on"][-1]
            (off_request, off_event), (on_request, on_event) = steady[-1]["off"], steady[-1]["on"]
            print(
                f"  round {number}: gateway {off.rps:,.0f} -> {on.rps:,.0f} req/s "
                f"({on.rps / off.rps:.2f}), CPU {off.request_us:.1f} -> {on.request_us:.1f} "
                f"us/req, steady {off_request:.1f} -> {on_request:.1f}; "
                f"events {off.events:,.0f} -> {on.events:,.0f}/s ({on.events / off.events:.2f}), "
                f"CPU {off.event_us:.0f} -> {on.event_us:.0f} us/event, "
                f"steady {off_event:.0f} -> {on_event:.0f}",
                flush=True,
            )
    pairs = list(zip(figures["off"], figures["on"], strict=True))
    return {
        "gateway throughput on/off": [on.rps / off.rps for off, on in pairs],
        "gateway CPU per request on/off": [on.request_us / off.request_us for off, on in pairs],
        "gateway CPU per request, steady load": [each["on"][0] / each["off"][0] for each in steady],
        "publish -> delivery throughput on/off": [on.events / off.events for off, on in pairs],
        "event CPU per event on/off": [on.event_us / off.event_us for off, on in pairs],
        "event CPU per event, steady load": [each["on"][1] / each["off"][1] for each in steady],
    }


class Figures(NamedTuple):
    """One process's figures at full speed in one round."""

    rps: float
    request_us: float
    events: float
    event_us: float


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it."""
    return [pid, *(p for child in gateway.children(pid) for p in descendants(child))]


def one_round(
    args: argparse.Namespace,
    url: str,
    key: str,
    receiver: events.ThreadReceiver,
    family: list[int],
    everyone: list[int],
    load: set[int] | None,
) -> Figures:
    """One process's round. Each measurement starts idle and counts the work it leaves behind
    (spans exported, hops written after the last answer), not the next one's."""

    def spent_since(before: float) -> float:
        gateway.settle(everyone)
        return gateway.cpu_seconds(family) - before

    gateway.settle(everyone)
    result = gateway.wrk("gateway", f"{url}/fast/x", args, proxy=family, cpus=load)
    ended = gateway.cpu_seconds(family)
    left = spent_since(ended) / (result.rps * args.duration) * 1e6
    before = gateway.cpu_seconds(family)
    rate = asyncio.run(publish_to_delivery(url, key, receiver, args.events, payloads(args)))
    event_us = spent_since(before) / args.events * 1e6
    return Figures(result.rps, (result.cpu_us or 0.0) + left, rate, event_us)


def steady_round(
    args: argparse.Namespace,
    served: dict[str, tuple[int, int, str]],
    receiver: events.ThreadReceiver,
    script: Path,
) -> dict[str, tuple[float, float]]:
    """Each process's CPU per request, then per event, under the same steady load at the same
    time: whatever the machine does meanwhile, it does to both."""
    families = {name: descendants(pid) for name, (pid, _, _) in served.items()}
    everyone = [p for family in families.values() for p in family]
    cpus = set(os.sched_getaffinity(0))
    for pid in everyone:  # unpinned: each may run anywhere, as the other does
        gateway.pin(pid, cpus)

    def spent(before: dict[str, float]) -> dict[str, float]:
        gateway.settle(everyone)
        return {n: gateway.cpu_seconds(f) - before[n] for n, f in families.items()}

    gateway.settle(everyone)
    before = {name: gateway.cpu_seconds(family) for name, family in families.items()}
    loads = {
        name: steady_wrk(f"http://127.0.0.1:{port}/fast/x", script, args.duration)
        for name, (_, port, _) in served.items()
    }
    requests = {name: finished(load) for name, load in loads.items()}
    rate = sum(requests.values()) / len(requests) / args.duration
    print(f"  steady load: {rate:,.0f} requests a second to each", flush=True)
    per_request = {n: cpu / requests[n] * 1e6 for n, cpu in spent(before).items()}
    before = {name: gateway.cpu_seconds(family) for name, family in families.items()}
    asyncio.run(publish_steadily(served, receiver, args.events, args.steady_rate, payloads(args)))
    per_event = {n: cpu / args.events * 1e6 for n, cpu in spent(before).items()}
    return {name: (per_request[name], per_event[name]) for name in served}


def steady_wrk(url: str, script: Path, seconds: int) -> subprocess.Popen[str]:
    """wrk making requests for ``seconds``, its connections each pausing ``STEADY_DELAY_MS``
    before every request: a load well under what either process can take."""
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{STEADY_CONNECTIONS}", f"-d{seconds}s", "-s", str(script), url],
        stdout=subprocess.PIPE,
        text=True,
    )


def finished(load: subprocess.Popen[str]) -> int:
    """The requests a :func:`steady_wrk` made, once it is done."""
    out, _ = load.communicate()
    found = re.search(r"(\d+) requests in", out)
    if load.returncode or found is None or re.search(r"Non-2xx or 3xx responses", out):
        raise SystemExit(f"the steady gateway load failed:\n{out}")
    return int(found.group(1))


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
