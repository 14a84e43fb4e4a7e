"""Benchmark the event bus backends: append throughput, and NATS overhead over raw nats-py.

    .venv/bin/python bench/events_bus.py [--events 100000] [--batch 100] [--publishers 16]
                                         [--nats nats://127.0.0.1:4222] [--no-nats]

Embedded: ``--events`` small CloudEvents appended to a fresh SQLite log in ``--batch``-event
``publish`` calls, first from one publisher (every batch its own transaction) and then from
``--publishers`` concurrent publishers (group commit). Every publish returns only once durable.

NATS: the same payloads and headers published to JetStream twice per round, alternating: raw
nats-py (``publish_async`` for every message, then all acks awaited) and ``NatsBus.publish``
with ``--batch``-event batches from ``--publishers`` publishers. The best of three rounds is
printed with the ratio bus/raw. Streams are created under a fresh prefix and deleted after.
Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import nats

from interlink.events.backends.embedded import EmbeddedBus
from interlink.events.backends.nats import HEADER_ROOM, NatsBus
from interlink.events.backends.nats_names import headers_for, stream_name, subject
from interlink.events.bus import Bus, Envelope, StreamSpec

TYPE = "com.example.customer.address-updated"
MAX_PAYLOAD = 1_048_576 - HEADER_ROOM
WINDOW = 600.0


def envelopes(count: int, tag: str) -> list[Envelope]:
    out = []
    for i in range(count):
        event_id = f"{tag}-{i}"
        body = {
            "specversion": "1.0",
            "type": TYPE,
            "source": "/crm",
            "id": event_id,
            "time": "2025-03-14T09:26:53Z",
            "datacontenttype": "application/json",
            "data": {"customerId": f"C{i % 5000:05d}", "street": "1 Main St", "postalCode": "1011"},
        }
        out.append(Envelope(TYPE, event_id, "/crm", f"C{i % 5000:05d}", json.dumps(body).encode()))
    return out


async def publish_all(bus: Bus, items: Sequence[Envelope], batch: int, publishers: int) -> float:
    batches = [items[i : i + batch] for i in range(0, len(items), batch)]

    async def worker(start: int) -> None:
        for chunk in batches[start::publishers]:
            await bus.publish(chunk)

    began = time.perf_counter()
    await asyncio.gather(*(worker(p) for p in range(publishers)))
    return len(items) / (time.perf_counter() - began)


async def embedded(args: argparse.Namespace) -> None:
    for publishers in (1, args.publishers):
        with tempfile.TemporaryDirectory() as tmp:
            bus = EmbeddedBus(Path(tmp) / "events.db")
            async with bus:
                await bus.ensure([StreamSpec(TYPE, WINDOW, MAX_PAYLOAD)], [])
                items = envelopes(args.events, uuid.uuid4().hex)
                rate = await publish_all(bus, items, args.batch, publishers)
            print(
                f"embedded  {publishers:>3} publisher(s) x {args.batch}-event batches:"
                f" {rate:>9,.0f} events/s ({bus.transactions} transactions"
                f" for {args.events // args.batch} publishes)"
            )


async def raw_nats(url: str, prefix: str, items: Sequence[Envelope]) -> float:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        headers = [headers_for(e, dedup=True) for e in items]
        began = time.perf_counter()
        futures = [
            await js.publish_async(subject(prefix, TYPE), e.body, headers=h)
            for e, h in zip(items, headers, strict=True)
        ]
        acks = await asyncio.gather(*futures)
        rate = len(items) / (time.perf_counter() - began)
        assert all(not a.duplicate for a in acks)
        return rate
    finally:
        await nc.close()


async def nats_bench(args: argparse.Namespace) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    bus = NatsBus(args.nats, prefix=prefix)
    best_raw = best_bus = 0.0
    try:
        async with bus:
            await bus.ensure([StreamSpec(TYPE, WINDOW, MAX_PAYLOAD)], [])
            for _ in range(3):
                raw = await raw_nats(args.nats, prefix, envelopes(args.events, uuid.uuid4().hex))
                ours = await publish_all(
                    bus, envelopes(args.events, uuid.uuid4().hex), args.batch, args.publishers
                )
                best_raw, best_bus = max(best_raw, raw), max(best_bus, ours)
    finally:
        nc = await nats.connect(args.nats)
        try:
            await nc.jetstream().delete_stream(stream_name(prefix, TYPE))
        finally:
            await nc.close()
    print(f"nats raw  publish_async, all pipelined:        {best_raw:>9,.0f} events/s")
    print(
        f"nats bus  {args.publishers:>3} publisher(s) x {args.batch}-event batches:"
        f" {best_bus:>9,.0f} events/s (ratio {best_bus / best_raw:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--publishers", type=int, default=16)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--no-nats", action="store_true")
    args = parser.parse_args()
    asyncio.run(embedded(args))
    if not args.no_nats:
        asyncio.run(nats_bench(args))


if __name__ == "__main__":
    main()
