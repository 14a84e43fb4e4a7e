"""Signed webhook deliveries per second: embedded bus → delivery engine → a local receiver.

    .venv/bin/python bench/events_delivery.py [--events 20000] [--mode backlog|live]
        [--client pooled|httpx] [--max-in-flight 64] [--subscriptions 1] [--ordered]
        [--rate N] [--uvloop] [--store postgresql://...] [--leases]

Builds an estate with one Event and ``--subscriptions`` signed webhook subscriptions, starts a
receiver in a separate process (it verifies every signature and
deduplicates on ``webhook-id``) and runs the engine in this one, on the embedded SQLite bus and
the SQLite delivery queue, both on disk with their production settings. ``--store`` puts the
store and its delivery queue in PostgreSQL instead (in a schema of its own, dropped after).
``--leases`` runs the engine with a lease keeper, as a node among several does: each
subscription is delivered under its lease and its queue writes are fenced by the lease's token.

- ``backlog``: the events are published first; the clock starts with the engine, so the figure
  is the rate at which a backlog drains (pull, enqueue, ack, sign, POST, complete).
- ``live``: the engine runs while a publisher appends the events in batches of 100, as fast as
  it can or at ``--rate`` events a second; the figure covers publish to delivered, and with a
  rate below capacity the latency percentiles (bucket bounds) show the delay of a healthy
  subscription.

The target is 3,000 signed deliveries a second on two cores; the figure is printed, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from interlink.estate.check import check_estate
from interlink.estate.references import SecretSource
from interlink.events.backends.embedded import EmbeddedBus
from interlink.events.bus import Envelope
from interlink.events.cloudevents import CloudEvent
from interlink.events.delivery import DeliveryEngine, EngineSettings, HttpxClient
from interlink.events.delivery.queues import open_queue
from interlink.events.delivery.webhook import ClientFactory, default_client
from interlink.events.signing import generate_secret
from interlink.events.topology import topology_of
from interlink.leases import LeaseKeeper
from interlink.store import open_store
from interlink.store.postgres import parse_postgres_url

TYPE = "order.created"
TARGET = 3000.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_estate(
    root: Path, url: str, subscriptions: int, max_in_flight: int, ordered: bool
) -> None:
    root.mkdir(parents=True)
    (root / "order.schema.json").write_text(json.dumps({"type": "object"}))

    def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        meta = {"name": name, "owner": "ops"}
        return {"apiVersion": "interlink/v1", "kind": kind, "metadata": meta, "spec": spec}

    docs = [
        obj("Team", "ops", {}),
        obj("System", "shop", {"domain": "sales", "baseUrl": "http://127.0.0.1:9"}),
        obj("System", "sink", {"domain": "ops", "baseUrl": url}),
        obj(
            "Event",
            TYPE,
            {"system": "shop", "schemas": [{"version": 1, "file": "order.schema.json"}]},
        ),
    ]
    for n in range(subscriptions):
        spec = {
            "event": TYPE,
            "target": {"system": "sink", "path": f"/hooks/{n}"},
            "secret": "${secret:bench-secret}",
            "maxInFlight": max_in_flight,
            "ordered": ordered,
        }
        docs.append(obj("Subscription", f"bench-{n}", spec))
    (root / "estate.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def drop_schema(url: str) -> None:
    target = parse_postgres_url(url)
    assert target.schema is not None
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(target.schema)))


def envelopes(count: int, start: int = 0) -> list[Envelope]:
    out = []
    for n in range(start, start + count):
        data = {"orderId": f"O{n:08d}", "total": n % 997, "lines": [{"sku": "A-1", "qty": 2}]}
        event = CloudEvent(id=f"evt-{n}", source="shop", type=TYPE, data=data)
        out.append(Envelope(TYPE, f"evt-{n}", "shop", f"O{n % 512}", event.to_structured()))
    return out


def delivered(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__receiver", timeout=5) as answer:
        counts = json.loads(answer.read())
    if counts["bad_signatures"]:
        raise SystemExit(f"the receiver refused {counts['bad_signatures']} signatures")
    return int(counts["delivered"])


async def wait_delivered(port: int, total: int, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while await asyncio.to_thread(delivered, port) < total:
        if time.perf_counter() > deadline:
            raise SystemExit(f"only {delivered(port)} of {total} delivered in {timeout:.0f}s")
        await asyncio.sleep(0.05)


async def run(args: argparse.Namespace) -> tuple[float, str]:
    secret = generate_secret()
    port = free_port()
    receiver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "interlink.testing.receivers",
            "--port",
            str(port),
            "--secret",
            secret,
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert receiver.stdout is not None
        receiver.stdout.readline()  # "receiver listening on …"
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            url = f"http://127.0.0.1:{port}"
            write_estate(root / "estate", url, args.subscriptions, args.max_in_flight, args.ordered)
            result = check_estate(root / "estate")
            assert result.ok, [f.render() for f in result.findings]
            store_url = f"sqlite:///{root / 'store.db'}"
            if args.store:
                store_url = with_schema(args.store, f"bench_{secrets.token_hex(4)}")
            store = open_store(store_url)
            store.migrate()
            keeper = LeaseKeeper(store.leases, "bench-node") if args.leases else None
            if keeper is not None:
                await keeper.start()
            bus = EmbeddedBus(root / "events.db")
            await bus.open()
            topology = topology_of(result.estate)
            await bus.ensure(topology.streams, topology.consumers)
            queue = open_queue(store_url)
            await queue.open()
            factory: ClientFactory = HttpxClient if args.client == "httpx" else default_client
            engine = DeliveryEngine(
                bus,
                queue,
                result.estate,
                secrets=SecretSource(environ={"INTERLINK_SECRET_BENCH_SECRET": secret}),
                client_factory=factory,
                settings=EngineSettings(),
                keeper=keeper,
            )
            total = args.events * args.subscriptions
            try:
                if args.mode == "backlog":
                    for start in range(0, args.events, 1000):
                        await bus.publish(envelopes(min(1000, args.events - start), start))
                    began = time.perf_counter()
                    await engine.start()
                    await wait_delivered(port, total, args.timeout)
                else:
                    await engine.start()
                    began = time.perf_counter()
                    for start in range(0, args.events, 100):
                        await bus.publish(envelopes(min(100, args.events - start), start))
                        if args.rate:  # paced: hold the publisher to --rate events a second
                            ahead = began + (start + 100) / args.rate - time.perf_counter()
                            await asyncio.sleep(max(ahead, 0.0))
                    await wait_delivered(port, total, args.timeout)
                elapsed = time.perf_counter() - began
                stats = engine.metrics_of("bench-0")
                latency = f"p50 ≤ {stats.latency_p50}s, p99 ≤ {stats.latency_p99}s"
            finally:
                await engine.stop()
                if keeper is not None:
                    await keeper.stop()
                store.close()
                await queue.close()
                await bus.close()
                if args.store:
                    drop_schema(store_url)
    finally:
        receiver.terminate()
        receiver.wait()
    return total / elapsed, latency


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--mode", choices=("backlog", "live"), default="backlog")
    parser.add_argument("--client", choices=("pooled", "httpx"), default="pooled")
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--subscriptions", type=int, default=1)
    parser.add_argument("--ordered", action="store_true", help="ordered by key (512 keys)")
    parser.add_argument(
        "--rate", type=float, default=0, help="live mode: publish this many events a second"
    )
    parser.add_argument("--uvloop", action="store_true", help="run the engine on uvloop")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--leases", action="store_true", help="deliver under leases, writes fenced by them"
    )
    parser.add_argument(
        "--store", default="", help="a PostgreSQL URL for the store (default: SQLite on disk)"
    )
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        rate, latency = uvloop.run(run(args))
    else:
        rate, latency = asyncio.run(run(args))
    verdict = "meets" if rate >= TARGET else "below"
    if args.mode == "live" and args.rate:
        verdict = "paced, so not measured against"
    options = [args.mode, args.client, f"{args.subscriptions} subscription(s)"]
    options.append(f"maxInFlight {args.max_in_flight}")
    options += [name for name in ("ordered", "uvloop") if getattr(args, name)]
    options.append("PostgreSQL store" if args.store else "SQLite store")
    if args.leases:
        options.append("under leases")
    if args.mode == "live" and args.rate:
        options.append(f"published at {args.rate:,.0f}/s")
    print(
        f"{args.events * args.subscriptions} signed deliveries ({', '.join(options)}): "
        f"{rate:,.0f}/s ({verdict} the {TARGET:,.0f}/s target); "
        f"publish-to-delivered latency {latency}"
    )


if __name__ == "__main__":
    main()
