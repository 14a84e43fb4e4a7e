"""Messages a second from a queue or topic through a consume-triggered flow to a webhook.

    .venv/bin/python bench/connectors_consume.py [--messages 5000] [--runs 3]
        [--concurrency 16] [--prefetch 32] [--only amqp|mqtt] [--amqp amqp://...]
        [--mqtt-port PORT]

``--messages`` JSON messages are preloaded into a queue (AMQP, RabbitMQ) or a topic (MQTT,
Mosquitto) of the run's own, then consumed, each message's body POSTed to a webhook receiver,
and counted there. Against:

- *plain*: the same broker driver (aio-pika, aiomqtt) consuming the same messages in this
  process, POSTing each body with the same HTTP client the product uses (``HttpClient``) and
  acking after the POST succeeded: no store, no run; the ceiling;
- *interlink*: ``interlink serve`` on an estate written to a temporary folder (embedded SQLite
  store) whose Flow has ``trigger.consume`` on the queue or topic and one ``call`` step POSTing
  ``body`` to the receiver's System. Each message is recorded as a run, acked, then run (its
  step checkpointed, its end recorded); once the receiver has them all, the store is checked to
  hold one completed run per message.

The rate is taken at the receiver: from its first POST to its ``--messages``-th (so neither the
server's start nor the consumer's connect counts), on both sides. So is the CPU each message
cost: the server's (user and system, from ``/proc``) between the receiver's first POST and its
last, over the messages POSTed in between; the plain consumer's, this process's over its whole
run (its connect included). On a shared machine the CPU per message moves far less with the
load than the rates do.

AMQP: the trigger's ``concurrency`` is ``--concurrency`` and its ``prefetch`` ``--prefetch``;
the plain consumer uses the same prefetch and handles as many messages at once. MQTT: both
handle ``--concurrency`` messages at once and send the PUBACKs in the order the messages came,
as MQTT wants (the consume trigger does so whatever its concurrency), through a persistent
session (clean start off) created before the preload.
Mosquitto keeps at most ``max_queued_messages`` (1000 by default) for a session, so unless
``--mqtt-port`` names a broker set up for it, a private ``mosquitto`` is started on a free
port with no such limit, and stopped after.

The receiver is a raw asyncio HTTP/1.1 server in its own process; its own rate (20,000 POSTs
written raw over 32 keep-alive connections, one at a time on each) is printed, and should be
at least twice the fastest rate measured. Queues, sessions and folders are the run's own,
removed after. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from yarl import URL

from interlink.flows.calls import Target, call
from interlink.http.client import HttpClient
from interlink.testing.processes import InterlinkProcess, free_port
from interlink.testing.services import amqp_url

# --- the webhook receiver: a raw asyncio HTTP/1.1 server in its own process ----------------------

RECEIVER = textwrap.dedent(
    """
    import asyncio, sys, time
    ANSWER = (b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\n"
              b"content-length: 11\\r\\n\\r\\n{\\"ok\\":true}")
    state = {"target": 0, "count": 0, "first": 0.0, "last": 0.0, "done": None}

    def text(body):
        return b"HTTP/1.1 200 OK\\r\\ncontent-length: %d\\r\\n\\r\\n%s" % (len(body), body)

    class Receiver(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer = transport, b""
        def data_received(self, data):
            self.buffer += data
            while True:
                end = self.buffer.find(b"\\r\\n\\r\\n")
                if end < 0:
                    return
                head = self.buffer[:end].split(b"\\r\\n")
                length = 0
                for line in head[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(self.buffer) < end + 4 + length:
                    return
                self.buffer = self.buffer[end + 4 + length:]
                method, target = head[0].split(b" ")[:2]
                if method == b"POST":
                    self.posted()
                elif target.startswith(b"/arm/"):
                    state.update(target=int(target[5:]), count=0, first=0.0, last=0.0,
                                 done=asyncio.get_running_loop().create_future())
                    self.transport.write(text(b"armed"))
                elif target == b"/wait":
                    done = state["done"]
                    done.add_done_callback(lambda f, t=self.transport: t.write(text(f.result())))
                else:
                    self.transport.write(text(str(state["count"]).encode()))
        def posted(self):
            now = time.monotonic()
            state["count"] += 1
            if state["count"] == 1:
                state["first"] = now
            if state["count"] == state["target"]:
                state["last"] = now
                state["done"].set_result(b"%f %f %d" % (state["first"], now, state["target"]))
            self.transport.write(ANSWER)

    async def main():
        server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

    asyncio.run(main())
    """
)


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    child = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        child.kill()
        child.wait()


async def _get(base: str, path: str, timeout: float = 10.0) -> str:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        return (await reader.readexactly(length)).decode()
    finally:
        writer.close()


async def arm(base: str, count: int) -> None:
    """Count POSTs from zero; :func:`received` answers once ``count`` came."""
    await _get(base, f"/arm/{count}")


async def received(base: str, timeout: float, alive: Callable[[], bool] = lambda: True) -> float:
    """POSTs a second at the receiver, from its first to its armed count's, once they came;
    fails when they do not within ``timeout`` or when ``alive()`` turns false first."""
    waiting = asyncio.ensure_future(_get(base, "/wait", timeout))
    while not waiting.done():
        await asyncio.wait({waiting}, timeout=0.5)
        if not waiting.done() and not alive():
            waiting.cancel()
            got = await _get(base, "/count")
            raise RuntimeError(f"stopped after {got} POSTs")
    try:
        first, last, count = map(float, waiting.result().split())
    except TimeoutError:
        got = await _get(base, "/count")
        raise RuntimeError(f"only {got} POSTs arrived within {timeout:.0f} s") from None
    return (count - 1) / (last - first)


async def receiver_rate(base: str, count: int, connections: int = 32) -> float:
    """The receiver's own rate: POSTs written raw over ``connections`` keep-alive connections,
    one at a time on each (no pipelining, as the contenders), so the client costs far less than
    any contender's."""
    host, port = base.removeprefix("http://").split(":")
    payload = body(0)
    request = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    request += b"content-length: %d\r\n\r\n%s" % (len(payload), payload)
    answer_end = b'{"ok":true}'
    left = [count]

    async def one() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while left[0] > 0:
                left[0] -= 1
                writer.write(request)
                await reader.readuntil(answer_end)
        finally:
            writer.close()

    await arm(base, count)
    await asyncio.gather(*(one() for _ in range(connections)))
    return await received(base, 30)


def body(n: int) -> bytes:
    return json.dumps({"id": f"C{n:06d}", "street": f"{n} Main St", "n": n}).encode()


# --- interlink serve -----------------------------------------------------------------------------

ESTATE = """\
apiVersion: interlink/v1
kind: Platform
metadata: {{name: platform}}
spec:
  store: {{url: "sqlite:///{store}"}}
---
apiVersion: interlink/v1
kind: Team
metadata: {{name: ops}}
spec: {{}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: broker, owner: ops}}
spec:
  domain: sales
  connector: {connector}
  connection: {connection}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: hook, owner: ops}}
spec: {{domain: sales, baseUrl: "{hook}"}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: relay, owner: ops}}
spec:
  trigger:
    consume: {{system: broker, from: "{source}", concurrency: {concurrency}, options: {options}}}
  steps:
    - {{name: post, type: call, system: hook, method: POST, path: /, body: body}}
"""


@contextlib.contextmanager
def serving(
    connector: str,
    connection: dict[str, Any],
    source: str,
    concurrency: int,
    options: dict[str, Any],
    hook: str,
    env: dict[str, str],
) -> Iterator[tuple[InterlinkProcess, Path]]:
    """``interlink serve`` on a fresh estate and store (the path yielded) in a temporary
    folder, consuming."""
    folder = Path(tempfile.mkdtemp(prefix="il-consume-bench-"))
    try:
        root = folder / "estate"
        root.mkdir()
        text = ESTATE.format(
            store=folder / "store.db",
            connector=connector,
            connection=json.dumps(connection),
            hook=hook,
            source=source,
            concurrency=concurrency,
            options=json.dumps(options),
        )
        (root / "estate.yaml").write_text(text, encoding="utf-8")
        args = ["serve", str(root), "--no-watch", "--log-level", "warning"]
        args += ["--admin-listen", f"127.0.0.1:{free_port()}"]
        args += ["--gateway-listen", f"127.0.0.1:{free_port()}"]
        proc = InterlinkProcess(args, env=env, cwd=folder).start()
        try:
            yield proc, folder / "store.db"
        finally:
            code = proc.stop()
            if code != 0:
                print(f"interlink serve exited {code}:\n{proc.output[-2000:]}", file=sys.stderr)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) process ``pid`` spent so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _first_posts(base: str, pid: int) -> tuple[int, float]:
    """The receiver's count once it is above zero, and the CPU seconds ``pid`` had spent then."""
    while True:
        count = int(await _get(base, "/count"))
        if count > 0:
            return count, process_cpu(pid)
        await asyncio.sleep(0.02)


async def interlink_rate(
    base: str,
    count: int,
    connector: str,
    connection: dict[str, Any],
    source: str,
    concurrency: int,
    options: dict[str, Any],
    env: dict[str, str],
) -> tuple[float, float | None]:
    """Messages a second, and the server's CPU microseconds a message (None when its first
    POSTs were not seen apart from its last)."""
    await arm(base, count)
    with serving(connector, connection, source, concurrency, options, base, env) as (proc, db):
        assert proc.proc is not None
        first = asyncio.create_task(_first_posts(base, proc.proc.pid))
        try:
            alive = lambda: proc.proc is not None and proc.proc.poll() is None  # noqa: E731
            rate = await received(base, max(120.0, count / 20), alive)
            spent = process_cpu(proc.proc.pid)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; interlink serve said:\n{proc.output[-3000:]}") from None
        finally:
            if not first.done():
                first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
        cpu = None
        if not first.cancelled() and first.exception() is None:
            seen, before = first.result()
            cpu = (spent - before) / (count - seen) * 1e6 if count > seen else None
        await _all_completed(db, count)
        return rate, cpu


async def _all_completed(db: Path, count: int, timeout: float = 10.0) -> None:
    """Check the store holds ``count`` runs, all completed (a POST the receiver counted twice,
    or a run that failed, would make the rate a lie); says so on stderr otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT status, count(*) FROM flow_runs GROUP BY status")
            statuses = dict(rows.fetchall())
        if statuses == {"completed": count} or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    if statuses != {"completed": count}:
        print(f"interlink runs, wanted {count} completed: {statuses}", file=sys.stderr)


# --- AMQP ----------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def amqp_queue(url: str, count: int) -> AsyncIterator[str]:
    """A queue of the run's own holding ``count`` messages (each with a message id)."""
    name = f"il_bench_consume_{uuid.uuid4().hex[:8]}"
    admin = await aio_pika.connect(url)
    try:
        channel = await admin.channel(publisher_confirms=True)
        await channel.declare_queue(name, durable=True)
        for start in range(0, count, 500):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(body(n), message_id=f"m{n}"), name
                    )
                    for n in range(start, min(count, start + 500))
                )
            )
        try:
            yield name
        finally:
            await channel.queue_delete(name)
    finally:
        await admin.close()


async def amqp_plain(
    url: str, base: str, queue: str, count: int, conc: int, prefetch: int
) -> float:
    """aio-pika: ``conc`` messages at a time, each POSTed, then acked."""
    await arm(base, count)
    client = HttpClient()
    target = Target(base, None)
    connection = await aio_pika.connect(url)
    slots = asyncio.Semaphore(conc)
    tasks: set[asyncio.Task[None]] = set()

    async def one(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            await call(
                client, target, "POST", "/", json.loads(message.body), str(message.message_id)
            )
            await message.ack()
        finally:
            slots.release()

    async def consume() -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        declared = await channel.get_queue(queue)
        async with declared.iterator() as messages:
            async for message in messages:
                await slots.acquire()
                task = asyncio.create_task(one(message))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    consumer = asyncio.create_task(consume())
    try:
        return await received(base, timeout=max(120.0, count / 20))
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        await asyncio.gather(*tasks, return_exceptions=True)
        await connection.close()
        await client.aclose()


def _secret_url(url: str) -> tuple[str, dict[str, str]]:
    """The AMQP URL with its password as a secret reference, and the env that gives it."""
    parsed = URL(url)
    if not parsed.password:
        return url, {}
    bare = str(parsed.with_password(None)).replace(
        f"{parsed.user}@", f"{parsed.user}:${{secret:bench-amqp-pw}}@", 1
    )
    return bare, {"INTERLINK_SECRET_BENCH_AMQP_PW": parsed.password}


#: One round: the plain consumer's rate and CPU microseconds a message, then interlink's.
Round = tuple[float, float, float, float | None]


async def _amqp_round(url: str, base: str, count: int, conc: int, prefetch: int) -> Round:
    async with amqp_queue(url, count) as queue:
        began = time.process_time()
        plain = await amqp_plain(url, base, queue, count, conc, prefetch)
        plain_cpu = (time.process_time() - began) / count * 1e6
    secret_url, env = _secret_url(url)
    async with amqp_queue(url, count) as queue:
        product, cpu = await interlink_rate(
            base, count, "amqp", {"url": secret_url}, queue, conc, {"prefetch": prefetch}, env
        )
    return plain, plain_cpu, product, cpu


def run_amqp(
    messages: int = 5000,
    runs: int = 3,
    *,
    url: str | None = None,
    concurrency: int = 16,
    prefetch: int = 32,
    base: str | None = None,
) -> dict[str, Any]:
    """Plain aio-pika vs interlink serve on RabbitMQ: messages/s of each run, and the receiver's
    own rate. ``base``: a receiver already running (else one is started for this call)."""
    with contextlib.ExitStack() as stack:
        hook = base or stack.enter_context(receiver())
        rounds = [
            asyncio.run(_amqp_round(url or amqp_url(), hook, messages, concurrency, prefetch))
            for _ in range(runs)
        ]
        capacity = asyncio.run(receiver_rate(hook, max(messages, 20000)))
    return {
        "connector": "amqp",
        "messages": messages,
        "concurrency": concurrency,
        "prefetch": prefetch,
        **_figures(rounds),
        "receiver": capacity,
    }


# --- MQTT ----------------------------------------------------------------------------------------

MOSQUITTO = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
"""


@contextlib.contextmanager
def mosquitto() -> Iterator[int]:
    """A private Mosquitto on a free port keeping every message queued for a session."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(binary):
        raise RuntimeError("no mosquitto binary: give --mqtt-port of a broker without a queue cap")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="il-bench-mosquitto-") as folder:
        conf = Path(folder) / "mosquitto.conf"
        conf.write_text(MOSQUITTO.format(port=port), encoding="utf-8")
        child = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("the private mosquitto did not start")
                time.sleep(0.05)
            yield port
        finally:
            child.kill()
            child.wait()


def _session(port: int, client_id: str, *, keep: bool) -> aiomqtt.Client:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600 if keep else 0
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=not keep,
        properties=properties,
    )


@contextlib.asynccontextmanager
async def mqtt_topic(port: int, client_id: str, count: int) -> AsyncIterator[str]:
    """A topic of the run's own, with ``count`` QoS 1 messages waiting in ``client_id``'s
    persistent session (created first, so the broker keeps them for it)."""
    topic = f"il/bench/consume/{uuid.uuid4().hex[:8]}"
    async with _session(port, client_id, keep=True) as subscriber:
        await subscriber.subscribe(topic, qos=1)
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as pub:
        for start in range(0, count, 10):  # aiomqtt warns past 10 publishes pending
            await asyncio.gather(
                *(pub.publish(topic, body(n), qos=1) for n in range(start, min(count, start + 10)))
            )
    try:
        yield topic
    finally:
        async with _session(port, client_id, keep=False):
            pass  # a clean start with no expiry: the session is gone


async def mqtt_plain(port: int, base: str, client_id: str, count: int, concurrency: int) -> float:
    """aiomqtt in the session: up to ``concurrency`` messages POSTed at once, each PUBACK sent
    once its POST is done and the PUBACKs before it are sent (MQTT wants them in order)."""
    await arm(base, count)
    client = HttpClient()
    target = Target(base, None)
    mqtt = _session(port, client_id, keep=True)
    # aiomqtt does not expose manual acks: the wrapped paho client does (as the connector).
    mqtt._client.manual_ack_set(True)
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()

    async def one(
        message: Any, before: asyncio.Future[None] | None, done: asyncio.Future[None]
    ) -> None:
        try:
            payload = json.loads(bytes(message.payload))
            await call(client, target, "POST", "/", payload, f"k{message.mid}")
            if before is not None:
                await before
            mqtt._client.ack(message.mid, message.qos)
        finally:
            done.set_result(None)
            slots.release()

    async def consume() -> None:
        before: asyncio.Future[None] | None = None
        async with mqtt:
            async for message in mqtt.messages:
                await slots.acquire()
                done = asyncio.get_running_loop().create_future()
                task = asyncio.create_task(one(message, before, done))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                before = done

    consumer = asyncio.create_task(consume())
    try:
        return await received(base, timeout=max(120.0, count / 20))
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()


async def _mqtt_round(port: int, base: str, count: int, concurrency: int) -> Round:
    plain_id = f"ilbench{uuid.uuid4().hex[:12]}"
    async with mqtt_topic(port, plain_id, count):
        began = time.process_time()
        plain = await mqtt_plain(port, base, plain_id, count, concurrency)
        plain_cpu = (time.process_time() - began) / count * 1e6
    product_id = f"ilbench{uuid.uuid4().hex[:12]}"
    async with mqtt_topic(port, product_id, count) as topic:
        connection = {"host": "127.0.0.1", "port": port}
        options = {"clientId": product_id}
        product, cpu = await interlink_rate(
            base, count, "mqtt", connection, topic, concurrency, options, {}
        )
    return plain, plain_cpu, product, cpu


def run_mqtt(
    messages: int = 5000,
    runs: int = 3,
    *,
    port: int | None = None,
    base: str | None = None,
    concurrency: int = 16,
) -> dict[str, Any]:
    """Plain aiomqtt vs interlink serve on Mosquitto, both acking in order, ``concurrency``
    messages in flight:
    messages/s of each run, and the receiver's own rate. ``port``: a broker with no queue cap
    (else a private one is started); ``base``: a receiver already running."""
    with contextlib.ExitStack() as stack:
        hook = base or stack.enter_context(receiver())
        broker = port or stack.enter_context(mosquitto())
        rounds = [
            asyncio.run(_mqtt_round(broker, hook, messages, concurrency)) for _ in range(runs)
        ]
        capacity = asyncio.run(receiver_rate(hook, max(messages, 20000)))
    return {
        "connector": "mqtt",
        "messages": messages,
        "concurrency": concurrency,
        **_figures(rounds),
        "receiver": capacity,
    }


def _figures(rounds: list[Round]) -> dict[str, list[Any]]:
    """The rounds' rates and CPU microseconds a message, each a list in round order."""
    return {
        "plain": [r[0] for r in rounds],
        "plain_cpu": [r[1] for r in rounds],
        "interlink": [r[2] for r in rounds],
        "interlink_cpu": [r[3] for r in rounds],
    }


def cpu_line(result: dict[str, Any]) -> str:
    """The CPU microseconds a message of each side: the median (and range) of the rounds."""
    parts = []
    for name, key in (("plain consumer", "plain_cpu"), ("interlink serve", "interlink_cpu")):
        values = [v for v in result[key] if v is not None]
        if values:
            spread = f" ({min(values):,.0f}-{max(values):,.0f})" if len(values) > 1 else ""
            parts.append(f"{name} {statistics.median(values):,.0f}{spread}")
    return "CPU us/message: " + ", ".join(parts)


# --- the table -----------------------------------------------------------------------------------


def print_result(result: dict[str, Any]) -> None:
    plain, product = result["plain"], result["interlink"]
    med_plain, med_product = statistics.median(plain), statistics.median(product)
    extra = f", prefetch {result['prefetch']}" if "prefetch" in result else ""
    print(
        f"{result['connector']}: {result['messages']:,} messages, concurrency "
        f"{result['concurrency']}{extra}; {len(plain)} runs, median (range)"
    )
    for name, rates in (("plain consumer", plain), ("interlink serve", product)):
        spread = f"{min(rates):,.0f}-{max(rates):,.0f}"
        print(f"  {name:16} {statistics.median(rates):7,.0f} msg/s  {spread:>13}")
    ratios = [i / p for p, i in zip(plain, product, strict=True)]
    verdict = "ok" if med_product >= 0.5 * med_plain else "BELOW the 0.5x target"
    print(
        f"  interlink / plain: {med_product / med_plain:.2f}x "
        f"(runs {min(ratios):.2f}-{max(ratios):.2f}; {verdict})"
    )
    print(f"  {cpu_line(result)}")
    fastest = max(*plain, *product)
    capacity = result["receiver"]
    enough = "enough" if capacity >= 2 * fastest else "NOT enough: the receiver limits the bench"
    print(
        f"  receiver alone: {capacity:,.0f} POSTs/s = {capacity / fastest:.1f}x the fastest run "
        f"({enough}; 2x wanted)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16, help="messages in flight")
    parser.add_argument("--prefetch", type=int, default=32, help="AMQP only")
    parser.add_argument("--only", choices=["amqp", "mqtt"])
    parser.add_argument("--amqp", default=amqp_url())
    parser.add_argument("--mqtt-port", type=int, help="a broker with no queue cap")
    args = parser.parse_args()
    jobs: list[Callable[[], dict[str, Any]]] = []
    if args.only in (None, "amqp"):
        jobs.append(
            lambda: run_amqp(
                args.messages,
                args.runs,
                url=args.amqp,
                concurrency=args.concurrency,
                prefetch=args.prefetch,
            )
        )
    if args.only in (None, "mqtt"):
        jobs.append(
            lambda: run_mqtt(
                args.messages, args.runs, port=args.mqtt_port, concurrency=args.concurrency
            )
        )
    for job in jobs:
        print_result(job())


if __name__ == "__main__":
    main()
