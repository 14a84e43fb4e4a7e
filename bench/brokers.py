"""Messages a second through the amqp and nats connectors: sends, then receives and acks.

    .venv/bin/python bench/brokers.py [--messages 2000] [--amqp amqp://...] [--nats nats://...]

Each connector sends ``--messages`` JSON messages one after the other (each awaiting the
broker's publisher confirm or stream acknowledgement, as a send step does), then subscribes and
receives and acks them one at a time (as a consume trigger with concurrency 1 does, without
recording runs). The queue and the stream are the run's own, deleted after. Printed, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Mapping
from typing import Any

import aio_pika
import nats

from interlink.connectors.amqp import AmqpConnector
from interlink.connectors.base import Connection, OutgoingMessage
from interlink.connectors.nats import NatsConnector
from interlink.testing.services import amqp_url, nats_url


async def _measure(
    connection: Connection, to: str, options: Mapping[str, Any], count: int
) -> tuple[float, float]:
    began = time.perf_counter()
    for i in range(count):
        await connection.send(OutgoingMessage(to, {"n": i}, key=f"bench-{i}"))
    sent = count / (time.perf_counter() - began)
    inbox = await connection.subscribe(to, options)
    began = time.perf_counter()
    for _ in range(count):
        received = await inbox.receive()
        await received.ack()
    taken = count / (time.perf_counter() - began)
    await inbox.close()
    return sent, taken


async def _amqp(url: str, count: int) -> tuple[float, float]:
    queue = f"il_bench_{uuid.uuid4().hex[:8]}"
    admin = await aio_pika.connect(url)
    channel = await admin.channel()
    await channel.declare_queue(queue, durable=True)
    connection = await AmqpConnector().open({"url": url}, "bench")
    try:
        return await _measure(connection, queue, {"prefetch": 50}, count)
    finally:
        await connection.close()
        await channel.queue_delete(queue)
        await admin.close()


async def _nats(url: str, count: int) -> tuple[float, float]:
    suffix = uuid.uuid4().hex[:8]
    stream, subject = f"IL_BENCH_{suffix}", f"il.bench.{suffix}"
    admin = await nats.connect(url)
    js = admin.jetstream()
    await js.add_stream(name=stream, subjects=[subject])
    connection = await NatsConnector().open({"url": url}, "bench")
    try:
        return await _measure(connection, subject, {"batch": 50, "trigger": "bench:b"}, count)
    finally:
        await connection.close()
        await js.delete_stream(stream)
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--amqp", default=amqp_url())
    parser.add_argument("--nats", default=nats_url())
    args = parser.parse_args()
    for name, run, url in (("amqp", _amqp, args.amqp), ("nats", _nats, args.nats)):
        sent, taken = asyncio.run(run(url, args.messages))
        print(f"{name}: {sent:,.0f} sends/s (confirmed), {taken:,.0f} receives+acks/s")


if __name__ == "__main__":
    main()
