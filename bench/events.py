"""The event mesh benchmark: every figure next to its reference, measured in the same run.

    .venv/bin/python bench/events.py [--events 100000] [--http-events 20000]
        [--connections 32] [--deliveries 20000] [--rate 500] [--seconds 20]
        [--nats nats://127.0.0.1:4222 | --no-nats]

(a) Ingress on the embedded backend, through a real ``interlink serve`` (a fresh estate in a
    temporary directory, one Event with a JSON Schema, a Consumer key):
    - ``--events`` events published with ``interlink.sdk.AsyncPublisher`` (batching), each
      counted once the 202 says it is durable; target 20,000 events/s;
    - ``--http-events`` binary-mode requests, one event each, from ``--connections`` keep-alive
      connections; reference: the same requests to a trivial asyncio server that answers 202
      without looking at them, in its own process like the platform.
(b) NATS backend: ``NatsBus.publish`` against raw nats-py ``publish_async`` of the same
    payloads (bench/events_bus.py), best of three alternating rounds; target ratio 0.8.
(c) Signed webhook deliveries a second from a backlog to a local receiver
    (bench/events_delivery.py); target 3,000/s.
(d) Publish-to-delivery latency through the real server: events published with the
    ``AsyncPublisher`` at ``--rate`` a second for ``--seconds``, delivered by a signed
    subscription to a receiver in this process; p50 and p99 from send to receipt.

Client and server share the machine: the figures are what one host does with both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import events_bus
import events_delivery
from interlink.events.signing import generate_secret
from interlink.sdk import AsyncPublisher
from interlink.testing.processes import InterlinkProcess, free_port, run_interlink
from interlink.testing.receivers import Receiver

INGEST = "bench.address-updated"
LATENCY = "bench.latency"
INGEST_TARGET = 20_000.0
NATS_TARGET = 0.8
DELIVERY_TARGET = events_delivery.TARGET

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["customerId", "address", "changedAt"],
    "properties": {
        "customerId": {"type": "string", "pattern": "^C[0-9]{6}$"},
        "address": {
            "type": "object",
            "required": ["street", "city", "postalCode", "country"],
            "properties": {
                "street": {"type": "string", "maxLength": 200},
                "city": {"type": "string", "maxLength": 100},
                "postalCode": {"type": "string", "maxLength": 20},
                "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
            },
        },
        "changedAt": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "number"},
    },
}


def data(n: int) -> dict[str, Any]:
    return {
        "customerId": f"C{n % 1_000_000:06d}",
        "address": {"street": f"{n} Main St", "city": "Cork", "postalCode": "T12", "country": "IE"},
        "changedAt": "2026-11-22T10:00:00Z",
    }


# --- the platform under test ---------------------------------------------------------------------


def write_estate(root: Path, receiver_url: str) -> None:
    root.mkdir(parents=True)
    (root / "address.schema.json").write_text(json.dumps(SCHEMA))

    def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        meta = {"name": name, "owner": "ops"}
        return {"apiVersion": "interlink/v1", "kind": kind, "metadata": meta, "spec": spec}

    event = {
        "system": "crm",
        "schemas": [{"version": 1, "file": "address.schema.json"}],
        "orderingKey": "customerId",
    }
    docs = [
        obj("Platform", "bench", {"events": {"backend": "embedded"}}),
        obj("Team", "ops", {}),
        obj("System", "crm", {"domain": "sales", "baseUrl": "http://127.0.0.1:9"}),
        obj("System", "sink", {"domain": "ops", "baseUrl": receiver_url}),
        obj("Event", INGEST, event),
        obj("Event", LATENCY, event),
        obj("Plan", "internal", {"limits": [{"requests": 1000, "per": "1s"}]}),
        obj(
            "Consumer",
            "bench-publisher",
            {"type": "internal", "plan": "internal", "scopes": ["events:publish:*"]},
        ),
        obj(
            "Subscription",
            "latency-sink",
            {
                "event": LATENCY,
                "target": {"system": "sink", "path": "/hooks"},
                "secret": "${secret:bench-secret}",
                "maxInFlight": 64,
            },
        ),
    ]
    (root / "estate.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))


@dataclass
class Served:
    proc: InterlinkProcess
    gateway: str
    key: str


def serve(root: Path, secret: str) -> Served:
    created = run_interlink(["consumers", "key", "create", "bench-publisher"], cwd=root)
    if created.returncode != 0:
        raise SystemExit(f"cannot create a consumer key: {created.stderr}")
    proc = InterlinkProcess(
        ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}"],
        env={
            "INTERLINK_GATEWAY_LISTEN": f"127.0.0.1:{free_port()}",
            "INTERLINK_SECRET_BENCH_SECRET": secret,
            "INTERLINK_LOG_LEVEL": "warning",
        },
    ).start()
    gateway = proc.wait_for(r"gateway on http://(\S+)", timeout=60).group(1)
    return Served(proc, f"http://{gateway}", created.stdout.strip())


# --- (a) ingress ---------------------------------------------------------------------------------


async def batching(gateway: str, key: str, count: int) -> float:
    async with AsyncPublisher(gateway, source="bench", key=key) as publisher:
        warm = [publisher.event(INGEST, data(n)) for n in range(2000)]
        await publisher.publish_many(warm)
        events = [publisher.event(INGEST, data(n)) for n in range(count)]
        began = time.perf_counter()
        receipts = await publisher.publish_many(events)
        elapsed = time.perf_counter() - began
    assert len(receipts) == count
    assert not any(r.duplicate for r in receipts)
    return count / elapsed


def requests(host: str, key: str, count: int) -> list[bytes]:
    """Binary-mode CloudEvents, one a request, each with its own id."""
    out = []
    for n in range(count):
        body = json.dumps(data(n)).encode()
        head = (
            f"POST /events/{INGEST} HTTP/1.1\r\nhost: {host}\r\nx-api-key: {key}\r\n"
            f"content-type: application/json\r\nce-specversion: 1.0\r\n"
            f"ce-id: {uuid.uuid4()}\r\nce-source: bench\r\nce-type: {INGEST}\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def one_per_request(url: str, payloads: Sequence[bytes], connections: int) -> float:
    """Send every request on ``connections`` keep-alive connections; all must get 202."""
    host, _, port = url.removeprefix("http://").partition(":")
    position = 0

    async def connection() -> None:
        nonlocal position
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while position < len(payloads):
                payload = payloads[position]
                position += 1
                writer.write(payload)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                if status_line.split()[1] != b"202":
                    raise SystemExit(f"refused: {status_line!r}")
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return len(payloads) / (time.perf_counter() - began)


def raw_server(port: int) -> None:
    """A trivial HTTP/1.1 server: reads each request and answers 202 with a small body."""
    from httptools import HttpRequestParser

    answer_body = b'{"accepted":1,"duplicates":0}'
    answer = (
        b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(answer_body)).encode() + b"\r\n\r\n" + answer_body
    )

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.parser = HttpRequestParser(self)

        def data_received(self, chunk: bytes) -> None:
            self.parser.feed_data(chunk)

        def on_message_complete(self) -> None:
            self.transport.write(answer)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(Protocol, "127.0.0.1", port, backlog=1024)
        print("listening", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


async def raw_reference(payloads: Sequence[bytes], connections: int) -> float:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--raw-server", str(port)], stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()
        return await one_per_request(f"http://127.0.0.1:{port}", payloads, connections)
    finally:
        child.terminate()
        child.wait()


# --- (d) latency ---------------------------------------------------------------------------------


class ThreadReceiver:
    """A verifying receiver on its own event loop in a thread, timing each delivery."""

    def __init__(self, secret: str) -> None:
        self.receiver = Receiver(secret=secret)
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self.receiver.start())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait(10)

    @property
    def url(self) -> str:
        return self.receiver.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def latency(
    gateway: str, key: str, receiver: ThreadReceiver, rate: float, seconds: float
) -> tuple[float, float, int]:
    total = int(rate * seconds)
    sent: dict[str, float] = {}
    async with AsyncPublisher(gateway, source="bench", key=key) as publisher:
        pending = []
        began = time.perf_counter()
        for n in range(total):
            event = publisher.event(LATENCY, data(n))
            sent[event["id"]] = time.time()
            pending.append(asyncio.ensure_future(publisher.send(event)))
            ahead = began + (n + 1) / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
        await asyncio.gather(*pending)
    deadline = time.monotonic() + 60
    while len(receiver.receiver.delivered) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(receiver.receiver.delivered)} of {total} delivered")
        await asyncio.sleep(0.05)
    if receiver.receiver.counts["bad_signatures"]:
        raise SystemExit("the receiver refused signatures")
    delays = sorted(
        r.at.timestamp() - sent[r.event_id]
        for r in receiver.receiver.delivered
        if r.event_id is not None
    )
    cuts = statistics.quantiles(delays, n=100)
    return cuts[49], cuts[98], len(delays)


# --- (b) NATS ------------------------------------------------------------------------------------


async def nats_ratio(url: str, events: int, batch: int, publishers: int) -> tuple[float, float]:
    import nats

    from interlink.events.backends.nats import NatsBus
    from interlink.events.backends.nats_names import stream_name
    from interlink.events.bus import StreamSpec

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    bus = NatsBus(url, prefix=prefix)
    best_raw = best_bus = 0.0
    try:
        async with bus:
            spec = StreamSpec(events_bus.TYPE, events_bus.WINDOW, events_bus.MAX_PAYLOAD)
            await bus.ensure([spec], [])
            for _ in range(3):
                raw = await events_bus.raw_nats(
                    url, prefix, events_bus.envelopes(events, uuid.uuid4().hex)
                )
                ours = await events_bus.publish_all(
                    bus, events_bus.envelopes(events, uuid.uuid4().hex), batch, publishers
                )
                best_raw, best_bus = max(best_raw, raw), max(best_bus, ours)
    finally:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(stream_name(prefix, events_bus.TYPE))
        finally:
            await nc.close()
    return best_raw, best_bus


# --- the run -------------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    return "meets" if value >= target else "BELOW"


async def platform_figures(args: argparse.Namespace, tmp: Path) -> None:
    secret = generate_secret()
    receiver = ThreadReceiver(secret)
    write_estate(tmp / "estate", receiver.url)
    served = serve(tmp / "estate", secret)
    try:
        rate = await batching(served.gateway, served.key, args.events)
        print(
            f"(a) embedded, AsyncPublisher batching: {rate:>9,.0f} durable events/s "
            f"({verdict(rate, INGEST_TARGET)} the {INGEST_TARGET:,.0f}/s target; "
            f"{args.events:,} events)",
            flush=True,
        )
        host = served.gateway.removeprefix("http://")
        ours = await one_per_request(
            served.gateway, requests(host, served.key, args.http_events), args.connections
        )
        raw = await raw_reference(requests(host, served.key, args.http_events), args.connections)
        print(
            f"(a) embedded, one event per request:   {ours:>9,.0f} durable events/s; "
            f"a trivial asyncio server answering 202: {raw:,.0f} requests/s "
            f"(ratio {ours / raw:.2f}; {args.http_events:,} requests on "
            f"{args.connections} connections)",
            flush=True,
        )
        p50, p99, count = await latency(
            served.gateway, served.key, receiver, args.rate, args.seconds
        )
        print(
            f"(d) publish -> signed delivery at {args.rate:,.0f} events/s: "
            f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms ({count:,} events)",
            flush=True,
        )
    finally:
        served.proc.stop()
        receiver.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--http-events", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--nats", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--no-nats", action="store_true")
    parser.add_argument("--raw-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_server:
        raw_server(args.raw_server)
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(platform_figures(args, Path(tmp)))
    if args.no_nats:
        print("(b) NATS: skipped (--no-nats)")
    else:
        try:
            raw, ours = asyncio.run(nats_ratio(args.nats, 50_000, 100, 16))
        except (OSError, TimeoutError) as exc:
            print(f"(b) NATS: not measured, {args.nats} unreachable ({type(exc).__name__})")
        else:
            print(
                f"(b) NATS, NatsBus.publish 16 x 100-event batches: {ours:>9,.0f} events/s; "
                f"raw nats-py publish_async pipelined: {raw:,.0f}/s (ratio {ours / raw:.2f}, "
                f"{verdict(ours / raw, NATS_TARGET)} the {NATS_TARGET} target)",
                flush=True,
            )
    delivery = argparse.Namespace(
        events=args.deliveries,
        mode="backlog",
        client="pooled",
        max_in_flight=64,
        subscriptions=1,
        ordered=False,
        rate=0.0,
        timeout=300.0,
        uvloop=False,
    )
    rate, _ = asyncio.run(events_delivery.run(delivery))
    print(
        f"(c) signed webhook deliveries (backlog, 1 subscription, maxInFlight 64): "
        f"{rate:>9,.0f}/s ({verdict(rate, DELIVERY_TARGET)} the {DELIVERY_TARGET:,.0f}/s target)"
    )


if __name__ == "__main__":
    main()
