"""Delivered events per second with 1, 2 and 3 `interlink serve` nodes, and how soon a killed
node's subscriptions move on to another.

    .venv/bin/python bench/cluster.py [--events 10000] [--subscriptions 6] [--rounds 5]
    .venv/bin/python bench/cluster.py --lease-ttl 2    # the takeover with shorter leases

Needs PostgreSQL, NATS JetStream and Redis: the test services on 127.0.0.1, or the URLs in
INTERLINK_TEST_POSTGRES_URL, INTERLINK_TEST_NATS_URL and INTERLINK_TEST_REDIS_URL. Every run
makes a schema, a stream prefix and a Redis key prefix of its own and removes them after.

Throughput: for each node count a fresh cluster starts (``interlink.testing.cluster``), waits
until its subscriptions are spread over the nodes, publishes ``--events`` events round-robin
through the gateways, and times from the first publish to the last first delivery at a loopback
receiver (in this process) that answers 204 at once. Half the subscriptions are ordered, over
500 keys. Deliveries per second, the ratio to one node, and the duplicates the receiver saw
(by ``webhook-id``) are printed.

Takeover: three nodes, events flowing in through node a's gateway; each round SIGKILLs the node
other than a that holds the most subscriptions and times, per subscription it held, from the
kill until another node delivered it (the first request after another node was seen holding the
lease); the round's figure is the slowest of its subscriptions. The node is started again and
the subscriptions spread before the next round. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from interlink.testing.cluster import Cluster, Feed, Services, Sub, event, publish_round_robin
from interlink.testing.services import nats_url, postgres_url, redis_url

KEYS = 500


def services() -> Services:
    server = postgres_url()
    separator = "&" if "?" in server else "?"
    schema = f"il_bench_{uuid.uuid4().hex[:12]}"
    return Services(f"{server}{separator}schema={schema}", nats_url(), redis_url())


def subscriptions(count: int) -> list[Sub]:
    return [Sub(f"sub-{n}", ordered=n % 2 == 1) for n in range(count)]


def throughput(
    tmp: Path, nodes: int, events: int, subs: list[Sub], ttl: float
) -> tuple[float, int]:
    """Deliveries per second with ``nodes`` nodes, and the duplicates seen."""
    cluster = Cluster(tmp / f"{nodes}-nodes", services(), lease_ttl=ttl, keep=False)
    try:
        running = cluster.start_all([f"n{i}" for i in range(nodes)], cluster.estate("e", subs))
        cluster.spread(subs)
        batch = [event(n, KEYS) for n in range(events)]
        began = time.monotonic()
        receipts = asyncio.run(
            publish_round_robin([n.gateway for n in running], cluster.token, batch)
        )
        assert len(receipts) == events
        wanted = events * len(subs)
        while cluster.count(lambda r: r.counts["delivered"]) < wanted:
            if time.monotonic() - began > 600:
                raise SystemExit(f"not all delivered in 600 s:\n{cluster.report()}")
            time.sleep(0.02)
        elapsed = time.monotonic() - began
        time.sleep(1.0)  # a duplicate would come soon after
        duplicates: int = cluster.count(lambda r: r.counts["duplicates"])
        return wanted / elapsed, duplicates
    finally:
        cluster.close()


def takeovers(tmp: Path, rounds: int, subs: list[Sub], ttl: float) -> list[float]:
    """The slowest subscription's takeover, per round, in seconds."""
    cluster = Cluster(tmp / "takeover", services(), lease_ttl=ttl)
    worst: list[float] = []
    try:
        nodes = cluster.start_all(["a", "b", "c"], cluster.estate("e", subs))
        cluster.spread(subs)
        steady = [event(n, KEYS) for n in range(1_000_000)]
        feed = Feed([nodes[0].gateway], cluster.token, steady, batch=10, pause=0.05).start()
        try:
            for n in range(rounds):
                owners = list(cluster.leases().values())
                held = {cluster.node_id(node): node for node in nodes[1:]}
                victim = max(held.values(), key=lambda v: owners.count(cluster.node_id(v)))
                taken = cluster.kill_and_time(victim)
                worst.append(taken.worst)
                print(
                    f"  round {n + 1}: killed {victim.name}; "
                    + ", ".join(f"{s} {t:.2f} s" for s, t in taken.seconds.items()),
                    flush=True,
                )
                cluster.run(victim)
                cluster.spread(subs)
        finally:
            feed.stop()
        if feed.error is not None:
            raise SystemExit(f"publishing failed: {feed.error!r}")
        return worst
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events per throughput run")
    parser.add_argument("--subscriptions", type=int, default=6)
    parser.add_argument("--nodes", default="1,2,3", help="node counts to measure, in order")
    parser.add_argument("--rounds", type=int, default=5, help="kills for the takeover (0: none)")
    parser.add_argument(
        "--lease-ttl", type=float, default=5.0, help="the nodes' --lease-ttl (default 5 s)"
    )
    args = parser.parse_args()
    subs = subscriptions(args.subscriptions)
    counts = [int(n) for n in args.nodes.split(",")]
    print(
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; {args.events} events x "
        f"{len(subs)} subscriptions ({sum(s.ordered for s in subs)} ordered, {KEYS} keys); "
        f"lease TTL {args.lease_ttl:g} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        results: list[tuple[int, float, int]] = []
        for nodes in counts:
            rate, duplicates = throughput(Path(tmp), nodes, args.events, subs, args.lease_ttl)
            results.append((nodes, rate, duplicates))
            print(f"  {nodes} node(s): {rate:,.0f} deliveries/s", flush=True)
        base = results[0][1]
        print(f"\n{'nodes':>5}  {'deliveries/s':>12}  {'vs ' + str(counts[0]):>6}  duplicates")
        for nodes, rate, duplicates in results:
            print(f"{nodes:>5}  {rate:>12,.0f}  {rate / base:>5.2f}x  {duplicates:>10}")
        if args.rounds:
            print(f"\ntakeover after kill -9 ({args.rounds} rounds):", flush=True)
            worst = takeovers(Path(tmp), args.rounds, subs, args.lease_ttl)
            print(
                f"takeover: min {min(worst):.2f} s, median {statistics.median(worst):.2f} s, "
                f"max {max(worst):.2f} s (lease TTL {args.lease_ttl:g} s)"
            )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
