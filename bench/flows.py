"""Durable flow runs a second vs a plain asyncio loop and DBOS Transact; step cost; memory.

    .venv/bin/python bench/flows.py [--runs 1000] [--concurrency 16]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--dbos-venv /tmp/interlink-dbos]
        [--no-dbos] [--rounds 3] [--waiting 10000]

The flow has three steps: ``map`` (a JSONata expression shapes the input), ``call`` (POST to a
local upstream) and ``publish`` (the shaped message as a ``customer.address-updated`` event to
the embedded bus through the mesh's ingress, as a running server's flows publish). It runs on
SQLite (the embedded default, a file in a temporary folder) and, with ``--postgres``, on
PostgreSQL in a schema of its own, dropped after. Against:

- *plain*: an asyncio loop doing the same expression, the same HTTP call with the same client
  and the same publish through the same ingress, with nothing recorded: the ceiling;
- *DBOS*: DBOS Transact (``dbos`` from the package index, installed by this script into
  ``--dbos-venv`` and run there as a subprocess, so none of it enters this process) running
  three ``@DBOS.step`` functions: the same shaping in Python, the same POST with a small raw
  asyncio client, and a "publish" that appends to a list (cheaper than the bus: the comparison
  favours DBOS). On SQLite, and on PostgreSQL in a database of its own when ``--postgres`` is
  given.

The table is the median of ``--rounds`` rounds (the range next to it), each round measuring
every contender in turn, so a shared machine's changing load falls on them alike.

The upstream is a raw asyncio HTTP server in its own process; its own rate (the same client,
the same concurrency) is printed next to the fastest engine's, and should be at least twice it.

*Checkpoint overhead* is the engine's time per step beyond the step's own work: runs one at a
time of a flow of 21 no-op maps (``$``) against a flow of one, divided by the 20 extra steps,
minus the time the expression itself takes. With ``--postgres``, a one-row UPDATE committed
straight through psycopg is timed too: the commit a checkpoint cannot be faster than.

*Memory*, each in a fresh process, on SQLite (and PostgreSQL with ``--postgres``):

- *timers*: ``--waiting`` runs of ``map`` -> ``wait`` (1 h) -> ``publish`` are started, 64 at a
  time; once every start returned (each run ``waiting`` in the store, its lease given up, no
  task left for it) the RSS is printed with the count of waiting runs and of tasks left. Then
  100 runs waiting 1 s are resumed by :meth:`FlowEngine.recover` once due, and checked to
  complete with their event published once.
- *held*: ``--waiting`` runs of ``map`` -> ``publish`` whose publisher never returns (each run
  parked inside its step, a task holding its lease with its heartbeat, as a run in a slow call).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from interlink.cli.estate import write_example
from interlink.estate.check import check_estate
from interlink.estate.kinds.flow import FlowSpec
from interlink.events.backends.embedded import EmbeddedBus
from interlink.events.ingress import EventIngress
from interlink.events.publish_auth import PublishAuth
from interlink.events.topology import topology_of
from interlink.events.validation import EventRegistry
from interlink.expressions import compile_expression
from interlink.flows.calls import Target, call
from interlink.flows.engine import FlowEngine, Publisher
from interlink.flows.publish import ingress_publisher
from interlink.flows.runs import FlowRuns
from interlink.http.client import HttpClient
from interlink.store import Store, open_store
from interlink.store.keyring import KeyRing
from interlink.store.postgres import parse_postgres_url

EVENT = "customer.address-updated"
SHAPE = (
    '{"customerId": id, "address": {"street": street, "city": "Cork", "postalCode": "T12", '
    '"country": "IE"}, "changedAt": "2026-11-22T10:00:00Z"}'
)
THREE_STEPS = FlowSpec.model_validate(
    {
        "steps": [
            {"name": "shape", "type": "map", "expression": SHAPE},
            {"name": "store", "type": "call", "system": "upstream", "method": "POST", "path": "/"},
            {"name": "tell", "type": "publish", "event": EVENT},
        ]
    }
)
NO_OPS = 20


def no_op_maps(count: int) -> FlowSpec:
    steps = [{"name": f"m{i}", "type": "map", "expression": "$"} for i in range(count)]
    return FlowSpec.model_validate({"steps": steps})


def message(n: int) -> dict[str, Any]:
    return {"id": f"C{n % 1_000_000:06d}", "street": f"{n} Main St"}


# --- the upstream: a raw asyncio HTTP/1.1 server in its own process ----------------------------

UPSTREAM = textwrap.dedent(
    """
    import asyncio, sys
    ANSWER = (b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\n"
              b"content-length: 11\\r\\n\\r\\n{\\"ok\\":true}")

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer = transport, b""
        def data_received(self, data):
            self.buffer += data
            while True:
                end = self.buffer.find(b"\\r\\n\\r\\n")
                if end < 0:
                    return
                length = 0
                for line in self.buffer[:end].split(b"\\r\\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(self.buffer) < end + 4 + length:
                    return
                self.buffer = self.buffer[end + 4 + length:]
                self.transport.write(ANSWER)

    async def main():
        server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

    asyncio.run(main())
    """
)


@contextlib.contextmanager
def upstream() -> Iterator[str]:
    child = subprocess.Popen([sys.executable, "-c", UPSTREAM], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        child.kill()
        child.wait()


# --- the pieces every measurement shares -------------------------------------------------------


@contextlib.asynccontextmanager
async def ingress(store: Store, folder: Path) -> AsyncIterator[Publisher]:
    """A publisher through the ingress into an embedded bus on the retail example estate."""
    root = folder / f"estate-{uuid.uuid4().hex[:6]}"
    write_example("retail", root)
    estate = check_estate(root).estate
    bus = EmbeddedBus(folder / f"events-{uuid.uuid4().hex[:6]}.db")
    await bus.open()
    try:
        topology = topology_of(estate)
        await bus.ensure(topology.streams, topology.consumers)
        registry = EventRegistry.from_estate(estate)
        auth = PublishAuth(KeyRing(store), store, lambda: estate)
        yield ingress_publisher(EventIngress(bus, lambda: registry, auth))
    finally:
        await bus.close()


async def paced(runs: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Runs a second: ``one(n)`` for every n, ``concurrency`` at a time, after one warm-up."""
    gate = asyncio.Semaphore(concurrency)

    async def gated(n: int) -> None:
        async with gate:
            await one(n)

    await one(-1)
    started = time.perf_counter()
    await asyncio.gather(*(gated(n) for n in range(runs)))
    return runs / (time.perf_counter() - started)


async def upstream_rate(base: str, runs: int, concurrency: int) -> float:
    client = HttpClient()
    target = Target(base, None)
    try:

        async def one(n: int) -> None:
            await call(client, target, "POST", "/", message(n), f"k{n}")

        return await paced(runs, concurrency, one)
    finally:
        await client.aclose()


async def plain_rate(base: str, folder: Path, runs: int, concurrency: int) -> float:
    shape = compile_expression(SHAPE)
    client = HttpClient()
    target = Target(base, None)
    with open_store(f"sqlite:///{folder / 'plain.db'}") as store:
        store.migrate()
        async with ingress(store, folder) as publish:

            async def one(n: int) -> None:
                key = str(uuid.uuid4())
                shaped = shape.evaluate(message(n), {"steps": {}, "run": {"id": key}})
                await call(client, target, "POST", "/", shaped, f"{key}:store")
                await publish(EVENT, shaped, f"{key}:tell")

            try:
                return await paced(runs, concurrency, one)
            finally:
                await client.aclose()


async def engine_rate(url: str, base: str, folder: Path, runs: int, concurrency: int) -> float:
    with open_store(url) as store:
        store.migrate()
        async with ingress(store, folder) as publish:
            engine = FlowEngine(
                FlowRuns(store.db),
                lambda _: THREE_STEPS,
                lambda _: Target(base, None),
                publisher=publish,
            )

            async def one(n: int) -> None:
                run = await engine.start_and_run("bench", message(n))
                if run.status != "completed":
                    raise RuntimeError(f"run {run.id} ended {run.status}: {run.error}")

            try:
                return await paced(runs, concurrency, one)
            finally:
                await engine.aclose()


def no_target(name: str) -> Target:
    raise RuntimeError(f"no System {name!r} in this benchmark")


async def step_overhead(url: str, runs: int) -> tuple[float, float]:
    """(µs of engine time per step beyond the step's work, µs of that work), runs one at a time."""
    long, short = no_op_maps(NO_OPS + 1), no_op_maps(1)
    with open_store(url) as store:
        store.migrate()

        async def timed(spec: FlowSpec) -> float:
            engine = FlowEngine(FlowRuns(store.db), lambda _: spec, no_target)
            await engine.start_and_run("warm", {"n": 0})
            started = time.perf_counter()
            for n in range(runs):
                await engine.start_and_run("bench", {"n": n})
            return (time.perf_counter() - started) / runs

        per_step = (await timed(long) - await timed(short)) / NO_OPS
    expression = compile_expression("$")
    started = time.perf_counter()
    for n in range(10_000):
        expression.evaluate({"n": n}, {"steps": {}, "run": {"id": "r", "flow": "f"}})
    work = (time.perf_counter() - started) / 10_000
    return (per_step - work) * 1e6, work * 1e6


def commit_latency(url: str, count: int = 200) -> float:
    """µs for a one-row UPDATE committed on its own straight through psycopg: the floor of a
    PostgreSQL checkpoint, which cannot return before its commit is flushed."""
    table = sql.Identifier(f"bench_commit_{secrets.token_hex(4)}")
    with psycopg.connect(parse_postgres_url(url).conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id INTEGER PRIMARY KEY, n INTEGER)").format(table))
        try:
            conn.execute(sql.SQL("INSERT INTO {} VALUES (1, 0)").format(table))
            update = sql.SQL("UPDATE {} SET n = n + 1 WHERE id = 1").format(table)
            started = time.perf_counter()
            for _ in range(count):
                conn.execute(update)
            return (time.perf_counter() - started) / count * 1e6
        finally:
            conn.execute(sql.SQL("DROP TABLE {}").format(table))


# --- memory, in a fresh process ------------------------------------------------------------------


def rss_mb() -> float:
    """This process's resident memory, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def held_rss(url: str, count: int) -> dict[str, float]:
    """RSS with ``count`` runs parked inside a publish step that never returns."""
    spec = FlowSpec.model_validate(
        {
            "steps": [
                {"name": "shape", "type": "map", "expression": SHAPE},
                {"name": "tell", "type": "publish", "event": EVENT},
            ]
        }
    )
    parked = 0
    never = asyncio.Event()

    async def blocking(event_type: str, data: Any, event_id: str) -> None:
        nonlocal parked
        parked += 1
        await never.wait()

    with open_store(url) as store:
        store.migrate()
        before = rss_mb()
        engine = FlowEngine(FlowRuns(store.db), lambda _: spec, no_target, publisher=blocking)
        tasks = [
            asyncio.create_task(engine.start_and_run("bench", message(n))) for n in range(count)
        ]
        while parked < count:
            await asyncio.sleep(0.1)
        held = rss_mb()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"before": before, "rss": held, "tasks": float(count)}


def timer_flow(wait: str) -> FlowSpec:
    return FlowSpec.model_validate(
        {
            "steps": [
                {"name": "shape", "type": "map", "expression": SHAPE},
                {"name": "pause", "type": "wait", "for": wait},
                {"name": "tell", "type": "publish", "event": EVENT},
            ]
        }
    )


async def timer_rss(url: str, count: int) -> dict[str, float]:
    """RSS with ``count`` runs durably waiting on a one-hour timer, once every start returned;
    then a few runs waiting a second are woken by recovery and checked to complete once."""
    published: dict[str, int] = {}

    async def counting(event_type: str, data: Any, event_id: str) -> None:
        published[event_id] = published.get(event_id, 0) + 1

    with open_store(url) as store:
        store.migrate()
        gc.collect()
        before = rss_mb()
        hour = timer_flow("1h")
        engine = FlowEngine(FlowRuns(store.db), lambda _: hour, no_target, publisher=counting)
        gate = asyncio.Semaphore(64)

        async def one(n: int) -> str:
            async with gate:
                run = await engine.start_and_run("timers", message(n))
            if run.status != "waiting":
                raise RuntimeError(f"run {run.id} is {run.status}, not waiting: {run.error}")
            return run.id

        await asyncio.gather(*(one(n) for n in range(count)))
        gc.collect()
        held = rss_mb()
        tasks = len(asyncio.all_tasks()) - 1  # this one
        with store.db.session() as session:
            row = session.fetchone("SELECT count(*) FROM flow_runs WHERE status = 'waiting'")
        waiting = int(row[0]) if row else 0

        # Waking: short waits, resumed by recovery once due, each published exactly once.
        second = timer_flow("1s")
        waker = FlowEngine(FlowRuns(store.db), lambda _: second, no_target, publisher=counting)
        short = [(await waker.start_and_run("wake", message(n))).id for n in range(100)]
        await asyncio.sleep(1.2)
        woken = [run for run in await waker.recover() if run.flow == "wake"]
        completed = sum(1 for run in woken if run.status == "completed")
        once = all(published.get(f"{run_id}:tell") == 1 for run_id in short)
    return {
        "before": before,
        "rss": held,
        "tasks": float(tasks),
        "waiting": float(waiting),
        "woken": float(completed),
        "short": float(len(short)),
        "once": float(once),
    }


def memory(url: str, count: int, kind: str) -> dict[str, float]:
    child = ["--memory-child", url, "--memory-kind", kind, "--waiting", str(count)]
    out = subprocess.run(
        [sys.executable, __file__, *child],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


# --- DBOS Transact, in its own virtualenv --------------------------------------------------------

DBOS_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from urllib.parse import urlsplit
    from dbos import DBOS

    system_url, base = sys.argv[1], sys.argv[2]
    runs, concurrency = int(sys.argv[3]), int(sys.argv[4])
    host, port = urlsplit(base).hostname, urlsplit(base).port
    DBOS(config={"name": "flows-bench", "system_database_url": system_url})
    idle, published = [], []

    async def post(body):
        # A minimal keep-alive client: one connection per concurrent call, reused.
        reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
        data = json.dumps(body).encode()
        writer.write(b"POST / HTTP/1.1\\r\\nhost: x\\r\\ncontent-type: application/json\\r\\n"
                     b"content-length: %d\\r\\n\\r\\n%s" % (len(data), data))
        head = await reader.readuntil(b"\\r\\n\\r\\n")
        length = next(int(l.split(b":")[1]) for l in head.split(b"\\r\\n")
                      if l.lower().startswith(b"content-length"))
        answer = json.loads(await reader.readexactly(length))
        idle.append((reader, writer))
        return answer

    @DBOS.step()
    async def shape(m):
        return {"customerId": m["id"], "address": {"street": m["street"], "city": "Cork",
                "postalCode": "T12", "country": "IE"}, "changedAt": "2026-11-22T10:00:00Z"}

    @DBOS.step()
    async def store(body):
        return await post(body)

    @DBOS.step()
    async def tell(body):
        published.append(body)

    @DBOS.workflow()
    async def flow(m):
        shaped = await shape(m)
        await store(shaped)
        await tell(shaped)
        return shaped

    async def main():
        DBOS.launch()
        gate = asyncio.Semaphore(concurrency)
        async def one(n):
            async with gate:
                await flow({"id": "C%06d" % (n % 1000000), "street": "%d Main St" % n})
        await one(-1)
        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(runs)))
        print(runs / (time.perf_counter() - started), flush=True)

    asyncio.run(main())
    DBOS.destroy()
    """
)


def dbos_python(venv: Path) -> Path:
    """The venv's python with ``dbos`` installed (through pip's usual configuration)."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import dbos"], check=False, capture_output=True)
    if probe.returncode != 0:
        print(f"installing dbos into {venv} ...", file=sys.stderr)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "dbos"], check=True)
    return python


def dbos_rate(python: Path, system_url: str, base: str, runs: int, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [str(python), "-c", DBOS_SCRIPT, system_url, base, str(runs), str(concurrency)],
            check=False,
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=900,
        )
    if done.returncode != 0:
        raise RuntimeError(f"DBOS run failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def postgres_database(url: str) -> Iterator[str]:
    """A database of its own for DBOS (it keeps a schema and migrations of its own)."""
    name = f"bench_dbos_{secrets.token_hex(4)}"
    target = parse_postgres_url(url)
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        head, _, _ = url.partition("?")
        yield head.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(target.conninfo, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    schema = f"bench_{secrets.token_hex(4)}"
    try:
        yield f"{url}{'&' if '?' in url else '?'}schema={schema}"
    finally:
        with psycopg.connect(parse_postgres_url(url).conninfo, autocommit=True) as conn:
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
            conn.execute(drop.format(sql.Identifier(schema)))


# --- the table -----------------------------------------------------------------------------------


def throughput(args: argparse.Namespace) -> None:
    """The runs/s table."""
    runs, conc = args.runs, args.concurrency
    # (what, store) -> runs/s of each round; the rounds alternate the contenders, so a shared
    # machine's load falls on them alike.
    samples: dict[tuple[str, str], list[float]] = {}

    def add(what: str, store: str, rate: float) -> None:
        samples.setdefault((what, store), []).append(rate)

    with tempfile.TemporaryDirectory() as tmp, upstream() as base:
        folder = Path(tmp)
        python = None if args.no_dbos else dbos_python(args.dbos_venv)
        dbos_runs = max(100, runs // 4)  # DBOS is slower; fewer runs keep the bench short
        for round_ in range(args.rounds):
            add(
                "plain asyncio, no durability",
                "-",
                asyncio.run(plain_rate(base, folder, runs, conc)),
            )
            sqlite_url = f"sqlite:///{folder / f'flows-{round_}.db'}"
            add(
                "interlink flows",
                "SQLite",
                asyncio.run(engine_rate(sqlite_url, base, folder, runs, conc)),
            )
            if python is not None:
                dbos_url = f"sqlite:///{folder / f'dbos-{round_}.db'}"
                add("DBOS Transact", "SQLite", dbos_rate(python, dbos_url, base, dbos_runs, conc))
            if args.postgres:
                with postgres_schema(args.postgres) as url:
                    add(
                        "interlink flows",
                        "PostgreSQL",
                        asyncio.run(engine_rate(url, base, folder, runs, conc)),
                    )
                if python is not None:
                    with postgres_database(args.postgres) as db_url:
                        add(
                            "DBOS Transact",
                            "PostgreSQL",
                            dbos_rate(python, db_url, base, dbos_runs, conc),
                        )
        fastest = max(
            max(rates) for (what, _), rates in samples.items() if what == "interlink flows"
        )
        capacity = asyncio.run(upstream_rate(base, max(runs, 2000), conc))

    def median(what: str, store: str) -> float | None:
        rates = samples.get((what, store))
        return statistics.median(rates) if rates else None

    plain = median("plain asyncio, no durability", "-") or float("nan")
    print(
        f"three-step flow (map -> POST to a local upstream -> publish to the embedded bus), "
        f"{runs} runs, {conc} at a time; median of {args.rounds} alternating rounds (range)"
    )
    print(f"{'':30} {'store':>10} {'runs/s':>7} {'range':>15} {'vs plain':>8} {'vs DBOS':>8}")
    order = ["plain asyncio, no durability", "interlink flows", "DBOS Transact"]
    for what, store in sorted(samples, key=lambda key: (order.index(key[0]), key[1] != "SQLite")):
        rates = samples[(what, store)]
        rate = statistics.median(rates)
        spread = f"{min(rates):,.0f}-{max(rates):,.0f}"
        versus = median("DBOS Transact", store)
        ratio = f"{rate / versus:7.1f}x" if versus and what == "interlink flows" else ""
        print(f"{what:30} {store:>10} {rate:7,.0f} {spread:>15} {rate / plain:7.2f}x {ratio:>8}")
    verdict = "enough" if capacity >= 2 * fastest else "NOT enough: the upstream limits the bench"
    print(
        f"upstream alone: {capacity:,.0f} calls/s = {capacity / fastest:.1f}x the fastest engine "
        f"round ({verdict}; 2x wanted)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", help="a postgresql:// URL to measure PostgreSQL too")
    parser.add_argument(
        "--dbos-venv", type=Path, default=Path(tempfile.gettempdir()) / "interlink-dbos"
    )
    parser.add_argument("--no-dbos", action="store_true", help="leave DBOS Transact out")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the runs/s table")
    parser.add_argument("--waiting", type=int, default=10_000, help="runs held for the RSS figure")
    parser.add_argument("--overhead-runs", type=int, default=200)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--memory-kind", default="timer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        measure = timer_rss if args.memory_kind == "timer" else held_rss
        print(json.dumps(asyncio.run(measure(args.memory_child, args.waiting))))
        return

    throughput(args)

    print(
        f"\ncheckpoint overhead per step ({NO_OPS + 1} no-op maps vs 1, {args.overhead_runs} runs "
        "one at a time)"
    )
    stores = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    for name, pg in stores:
        with contextlib.ExitStack() as stack:
            if pg is None:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                url = f"sqlite:///{folder / 'overhead.db'}"
            else:
                url = stack.enter_context(postgres_schema(pg))
            overhead, work = asyncio.run(step_overhead(url, args.overhead_runs))
        print(f"  {name:10} {overhead:8.0f} µs a step (the no-op expression itself: {work:.0f} µs)")
    if args.postgres:
        floor = commit_latency(args.postgres)
        print(
            f"  PostgreSQL alone: {floor:,.0f} µs a one-row UPDATE committed (psycopg, no engine)"
        )

    print(f"\nmemory (RSS of a fresh process, {args.waiting:,} runs; target < 300 MB)")
    for name, pg in stores:
        with contextlib.ExitStack() as stack:
            if pg is None:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                url = f"sqlite:///{folder / 'waiting.db'}"
            else:
                url = stack.enter_context(postgres_schema(pg))
            timers = memory(url, args.waiting, "timer")
            held = memory(url, args.waiting, "held")
        print(
            f"  {name:10} waiting on a 1 h timer: {timers['rss']:,.0f} MB "
            f"({timers['before']:,.0f} MB before; {timers['waiting']:,.0f} runs waiting in the "
            f"store, {timers['tasks']:,.0f} tasks left in the process); "
            f"{timers['woken']:,.0f} of {timers['short']:,.0f} runs waiting 1 s completed on "
            f"recovery, each published {'once' if timers['once'] else 'NOT once'}"
        )
        print(
            f"  {name:10} held inside a step that never returns (a task each): "
            f"{held['rss']:,.0f} MB ({held['before']:,.0f} MB before)"
        )


if __name__ == "__main__":
    main()
