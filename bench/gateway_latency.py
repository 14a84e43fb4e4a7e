"""Latency the gateway adds at a constant 2,000 req/s: the target is a p99 of at most 1 ms.

    .venv/bin/python bench/gateway_latency.py [--rate 2000] [--duration 20] [--rounds 4]
        [--warmup 2] [--connections 64] [--pin auto|off] [--idle poll|halt]

Starts the fixed-answer upstream (``interlink.testing.upstreams --fixed``) and ``interlink
serve`` on the estate of ``bench/gateway.py`` (one gateway worker, ``--no-access-log``), then
offers the same open-loop load to each target in turn:

- the upstream directly, the reference: what the load generator, the loopback and the upstream
  cost without a gateway;
- nginx (one worker, upstream keep-alive, the configuration of ``bench/gateway.py``) as a
  proxy on the gateway's CPU, when it is installed (``--no-nginx`` leaves it out): a second
  reference, for what one more hop costs on this machine whatever the proxy;
- the gateway, on a route without policies (``/customers/42``);
- the gateway, on a route with an API key (``x-api-key``), a plan whose rate limit is never
  reached and request validation against an OpenAPI contract (``/p/customers/42``).

The ``--duration`` (20 s) of each target is split into ``--rounds`` (4) rounds, and each round
runs the targets in turn, so that slow changes in the machine (a busy neighbour, the
hypervisor) fall on all of them alike; the percentiles pool the requests of every round.

**Open loop.** wrk keeps a fixed number of requests in flight, so a stall delays the requests
it would have sent meanwhile and they are never measured (coordinated omission); wrk2 is not
packaged here. The load generator is therefore in this file, and runs in a process of its own
(this script started again with ``--generate``) on uvloop. Request *i* is due at
``start + i / rate``. A timerfd armed at the next due time (absolute, ``CLOCK_MONOTONIC``,
nanosecond resolution: the event loop's own timers round to milliseconds) wakes the loop, which
sends every request that is due on an idle keep-alive connection, the one idle longest first. A
request due while every connection is busy waits for the next one to free up. Latency runs from
the due time to the last byte of the response, so time a request spent waiting, behind a stall
in the generator or in the target, is counted. Responses are read with a minimal HTTP/1.1
parser: the status line and ``Content-Length``. A warm-up at the same rate precedes each
measurement and is not counted; the cyclic garbage collector is off while the generator runs.

**Checks.** For each target the table gives the rate achieved (answered requests due in the
measured window, over the time from its start to the last answer), errors (no answer within 5 s
after the last send, a closed connection, a response without ``Content-Length``) and non-2xx
answers. ``others`` is the share of the machine's CPU time used meanwhile by processes outside
the benchmark, and ``steal`` the share the hypervisor took: the figures are the gateway's only
when both stay near 0. A round in which other processes took over 1.5 % is run again (up to
``--retries`` times), and a warning under the table names the targets still disturbed.
``send p99`` is how late the generator put requests on the wire (due time to the write): it is
part of every latency, the direct reference's too, so it cancels out of the gateway-added
figures while it stays small. ``CPU/req`` is the CPU time (user and system, every thread) of
the process answering the generator (the upstream, nginx or ``interlink serve``) per request
sent, warm-ups included. ``p99 by round`` shows how much the p99 moves from round to round.

**CPU placement.** On a machine with two CPUs or more, the gateway process (with every thread
it starts) and nginx are pinned to the last CPU with ``sched_setaffinity``, set before ``exec``
so that it holds for all their threads, and the upstream, the generator and this script to the
others. The generator then never takes the gateway's CPU, and the upstream and the generator
share the same CPU in every run, the direct one included, so subtracting the direct figures
leaves the proxy's hop. ``--pin off`` leaves placement to the scheduler.

**Idle CPUs.** An idle CPU of a virtual machine halts, and waking it for a packet or a timer
takes the hypervisor tens of microseconds to milliseconds: on the 2-CPU virtual machine these
figures come from, a timerfd due every 500 µs fired 1 to 2 ms late at the 99th percentile while
the CPUs were allowed to halt, and under 0.1 ms while they were not. At 2,000 req/s the CPUs are
idle most of the time, so every hop of a request may pay that wake-up. By default the script
therefore holds ``/dev/cpu_dma_latency`` at 0 for the run, as ``cyclictest`` does and as tuned's
latency-performance profile does, which keeps idle CPUs polling instead of halting (the request
ends when the script closes the file). ``--idle halt`` leaves the CPUs as they are, to see the
figures a default machine gives; the script says which it used. Without write access to the file
it goes on as with ``--idle halt`` and says so.

**Gateway-added.** p50 and p99 of a gateway target minus the same percentile of the direct run:
an estimate of what the gateway adds, not a percentile of per-request differences. PASS when the
added p99 is at most ``--target-ms`` (1 ms). The same differences against nginx tell what the
gateway costs beyond any proxy's hop on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import json
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from gateway import (
    create_key,
    estate,
    free_port,
    nginx_args,
    nginx_config,
    serve_args,
    start,
    upstream_args,
    wait_port,
)

TARGET_MS = 1.0
NOISY = 0.015  # a share of the CPUs used by others past which a round is disturbed
ANSWER_GRACE_S = 5.0  # after the last send, how long unanswered requests are waited for

# timerfd through libc: os.timerfd_create comes with Python 3.13 only.
CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


class Timer:
    """A one-shot timerfd on CLOCK_MONOTONIC (the clock of ``time.monotonic_ns``)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create")
        self.fd: int = fd

    def arm_at(self, deadline_ns: int) -> None:
        spec = _Itimerspec()
        spec.it_value.tv_sec, spec.it_value.tv_nsec = divmod(max(deadline_ns, 1), 1_000_000_000)
        if self._libc.timerfd_settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) < 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime")

    def clear(self) -> None:
        with suppress(BlockingIOError):
            os.read(self.fd, 8)

    def close(self) -> None:
        os.close(self.fd)


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due_ns = 0  # due time of the request in flight; 0 when idle
        self.need = -1  # bytes of the response (head and body); -1 until its head is read
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, due_ns: int) -> None:
        assert self.transport is not None
        self.due_ns = due_ns
        self.need = -1
        self.transport.write(self.generator.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).split(b"\r\n")
            try:
                self.status = int(head[0].split(b" ", 2)[1])
            except (IndexError, ValueError):
                self.fail()
                return
            length = -1
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                    break
            if length < 0:
                self.fail()  # chunked or close-delimited: not what these targets send
                return
            self.need = end + 4 + length
        if len(self.buffer) < self.need:
            return
        if len(self.buffer) > self.need:
            self.fail()  # bytes nobody asked for
            return
        self.buffer.clear()
        due, self.due_ns = self.due_ns, 0
        self.generator.answered(self, due, self.status)

    def fail(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.generator.lost(self)


class Generator:
    """Open-loop load: request ``i`` is due at ``start + i / rate``, whatever came back."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        lines = [f"GET {args.path} HTTP/1.1", f"Host: 127.0.0.1:{args.port}"]
        lines += args.header or []
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.rate: int = args.rate
        self.total = round((args.warmup + args.duration) * self.rate)
        self.first_measured = round(args.warmup * self.rate)
        self.start_ns = 0
        self.next_index = 0
        self.idle: collections.deque[Connection] = collections.deque()
        self.backlog: collections.deque[int] = collections.deque()
        self.in_flight = 0
        self.latencies: list[int] = []
        self.send_lags: list[int] = []
        self.errors = 0
        self.non_2xx = 0
        self.last_answer_ns = 0
        self.timer = Timer()
        self.done: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing = False

    def due(self, index: int) -> int:
        return self.start_ns + index * 1_000_000_000 // self.rate

    @property
    def measure_from_ns(self) -> int:
        return self.due(self.first_measured)

    async def run(self) -> dict[str, Any]:
        self.loop = asyncio.get_running_loop()
        self.done = self.loop.create_future()
        for _ in range(self.args.connections):
            await self.connect()
        self.start_ns = time.monotonic_ns() + 50_000_000
        self.timer.arm_at(self.start_ns)
        self.loop.add_reader(self.timer.fd, self.tick)
        try:
            await self.done
        finally:
            self.loop.remove_reader(self.timer.fd)
            self.timer.close()
        end_ns = self.due(self.total)
        # Whatever is still unanswered ANSWER_GRACE_S after the last send is an error.
        deadline = end_ns + int(ANSWER_GRACE_S * 1e9)
        while self.in_flight and time.monotonic_ns() < deadline:
            await asyncio.sleep(0.01)
        self.errors += self.in_flight  # sent and unanswered, or still waiting for a connection
        self.closing = True
        for conn in list(self.idle):
            conn.fail()
        window_s = (max(self.last_answer_ns, end_ns) - self.measure_from_ns) / 1e9
        return {
            "latencies_ns": self.latencies,
            "send_lags_ns": self.send_lags,
            "planned": self.total - self.first_measured,
            "sent": self.total,
            "window_s": window_s,
            "errors": self.errors,
            "non_2xx": self.non_2xx,
        }

    async def connect(self) -> None:
        assert self.loop is not None
        _, protocol = await self.loop.create_connection(
            lambda: Connection(self), "127.0.0.1", self.args.port
        )
        self.release(protocol)

    def tick(self) -> None:
        try:
            self._tick()
        except Exception as exc:  # end the run with it rather than hang
            if self.done is not None and not self.done.done():
                self.done.set_exception(exc)

    def _tick(self) -> None:
        self.timer.clear()
        now = time.monotonic_ns()
        while self.next_index < self.total:
            due = self.due(self.next_index)
            if due > now:
                self.timer.arm_at(due)
                return
            self.next_index += 1
            self.dispatch(due)
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    def dispatch(self, due: int) -> None:
        self.in_flight += 1
        if self.idle:
            self.idle.popleft().send(due)
            if due >= self.measure_from_ns:
                self.send_lags.append(time.monotonic_ns() - due)
        else:
            self.backlog.append(due)

    def answered(self, conn: Connection, due: int, status: int) -> None:
        now = time.monotonic_ns()
        self.in_flight -= 1
        if due >= self.measure_from_ns:
            self.latencies.append(now - due)
            self.last_answer_ns = now
            if not 200 <= status < 300:
                self.non_2xx += 1
        self.release(conn)

    def release(self, conn: Connection) -> None:
        """Give ``conn`` the oldest request waiting for a connection, else make it idle."""
        if self.backlog:
            waiting = self.backlog.popleft()
            conn.send(waiting)
            if waiting >= self.measure_from_ns:
                self.send_lags.append(time.monotonic_ns() - waiting)
        else:
            self.idle.append(conn)

    def lost(self, conn: Connection) -> None:
        if conn.due_ns:
            self.in_flight -= 1
            self.errors += 1
        self.idle = collections.deque(c for c in self.idle if c is not conn)
        if self.loop is not None and not self.closing:
            self.loop.create_task(self.reconnect())

    async def reconnect(self) -> None:
        try:
            await self.connect()
        except OSError:
            self.errors += 1


def generate(args: argparse.Namespace) -> None:
    """The generator process: run the load, print the raw figures as one JSON object."""
    import uvloop

    gc.collect()
    gc.disable()
    result = uvloop.run(Generator(args).run())
    json.dump(result, sys.stdout)


@dataclass
class Target:
    """One target and what its rounds measured, pooled."""

    name: str
    port: int
    path: str
    headers: tuple[str, ...] = ()
    kind: str = "gateway"  # or "direct", "nginx"
    pid: int = 0  # the process that answers the generator: upstream, nginx or serve
    server_cpu: float = 0.0  # its CPU seconds, summed over rounds (warm-ups included)
    sent: int = 0  # requests sent, summed over rounds (warm-ups included)
    latencies: list[int] = field(default_factory=list)
    send_lags: list[int] = field(default_factory=list)
    planned: int = 0
    window_s: float = 0.0
    errors: int = 0
    non_2xx: int = 0
    round_p99_ms: list[float] = field(default_factory=list)
    steal: float = 0.0  # CPU seconds the hypervisor took, summed over rounds
    others: float = 0.0  # CPU seconds of processes not in this benchmark
    wall: float = 0.0  # CPU seconds that passed (wall time times CPUs)

    def add(self, raw: dict[str, Any], use: CpuUse, server_cpu: float) -> None:
        self.server_cpu += server_cpu
        self.sent += raw["sent"]
        latencies: list[int] = raw["latencies_ns"]
        self.latencies += latencies
        self.send_lags += raw["send_lags_ns"]
        self.planned += raw["planned"]
        self.window_s += raw["window_s"]
        # Every measured request is answered or counted as an error: take whichever is more.
        self.errors += max(raw["errors"], raw["planned"] - len(latencies))
        self.non_2xx += raw["non_2xx"]
        self.round_p99_ms.append(percentile(sorted(latencies), 99.0))
        self.steal += use.steal
        self.others += use.others
        self.wall += use.wall

    @property
    def achieved(self) -> float:
        return len(self.latencies) / self.window_s if self.window_s > 0 else 0.0

    def percentiles_ms(self) -> dict[str, float]:
        ordered = sorted(self.latencies)
        return {label: percentile(ordered, q) for label, q in PERCENTILES.items()}


PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}


def percentile(ordered: list[int], q: float) -> float:
    """The nearest-rank percentile of sorted nanoseconds, in milliseconds."""
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[min(len(ordered), int(rank)) - 1] / 1e6


TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class CpuUse:
    """CPU seconds over an interval: stolen, used by other processes, and elapsed (all CPUs)."""

    steal: float
    others: float
    wall: float


class CpuMeter:
    """What else the machine did while a round ran: hypervisor steal, and CPU time of processes
    outside the benchmark (busy time of all CPUs minus the upstream's, the gateway's and the
    generator's), so a noisy neighbour shows in the table instead of passing for the gateway."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def sample(self) -> tuple[float, float, float]:
        with open("/proc/stat") as stat:
            ticks = [float(v) for v in stat.readline().split()[1:9]]
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        busy = sum(ticks) - ticks[3] - ticks[4] - ticks[7]
        ours = sum(self.process_cpu(pid) for pid in self.pids)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the generators, once waited
        ours += children.ru_utime + children.ru_stime
        return ticks[7] / TICKS, busy / TICKS - ours, sum(ticks) / TICKS

    @classmethod
    def process_cpu(cls, pid: int) -> float:
        """CPU seconds of ``pid`` (every thread) and of its child processes (nginx's worker)."""
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            children = [
                int(child)
                for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()
            ]
        except OSError:
            return 0.0
        own = (float(fields[11]) + float(fields[12])) / TICKS  # utime stime
        return own + sum(cls.process_cpu(child) for child in children)

    def measure(self, before: tuple[float, float, float]) -> CpuUse:
        after = self.sample()
        steal, others, wall = (a - b for a, b in zip(after, before, strict=True))
        return CpuUse(steal, max(0.0, others), wall)


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child (and so every thread it starts) to ``cpus``."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def run_round(
    target: Target,
    args: argparse.Namespace,
    seconds: float,
    cpus: set[int] | None,
    meter: CpuMeter,
    retries: int,
) -> None:
    """Run one round against ``target``; a round other processes disturbed is run again, up
    to ``retries`` times."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--generate",
        "--port",
        str(target.port),
        "--path",
        target.path,
        "--rate",
        str(args.rate),
        "--duration",
        str(seconds),
        "--warmup",
        str(args.warmup),
        "--connections",
        str(args.connections),
    ]
    for header in target.headers:
        command += ["--header", header]
    before = meter.sample()
    server_before = CpuMeter.process_cpu(target.pid)
    out = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=pinned(cpus),
        timeout=args.warmup + seconds + 60,
    ).stdout
    server = CpuMeter.process_cpu(target.pid) - server_before
    use = meter.measure(before)
    if retries > 0 and use.wall and use.others / use.wall > NOISY:
        print(
            f"    {target.name}: other processes used {use.others / use.wall:.0%} of the CPUs, "
            "round run again",
            flush=True,
        )
        run_round(target, args, seconds, cpus, meter, retries - 1)
        return
    target.add(json.loads(out), use, server)


def hold_cpus_awake(stack: ExitStack) -> bool:
    """Ask the kernel (PM QoS) to keep idle CPUs out of halt until ``stack`` closes."""
    try:
        fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
    except OSError:
        return False
    stack.callback(os.close, fd)
    os.write(fd, struct.pack("i", 0))
    return True


def placement(mode: str) -> tuple[set[int] | None, set[int] | None]:
    """(the gateway's CPUs, everyone else's), or (None, None) when not pinning."""
    cpus = sorted(os.sched_getaffinity(0))
    if mode == "off" or len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])


def print_table(targets: list[Target], target_ms: float) -> None:
    labels = list(PERCENTILES)
    print("\nlatency in ms, from each request's due time to the last byte of its answer")
    print(
        f"{'target':36} {'req/s':>6} {'errors':>6} {'non-2xx':>7} {'others':>6} {'steal':>6} "
        f"{'send p99':>8} {'CPU/req':>7}"
        + "".join(f" {label:>7}" for label in labels)
        + "  p99 by round"
    )
    for t in targets:
        figures = t.percentiles_ms()
        cells = "".join(f" {figures[label]:7.3f}" for label in labels)
        rounds = " ".join(f"{p:.2f}" for p in t.round_p99_ms)
        others = 100 * t.others / t.wall if t.wall else 0.0
        steal = 100 * t.steal / t.wall if t.wall else 0.0
        send = percentile(sorted(t.send_lags), 99.0)
        per_request = 1e6 * t.server_cpu / t.sent if t.sent else 0.0
        print(
            f"{t.name:36} {t.achieved:6.0f} {t.errors:6d} {t.non_2xx:7d} {others:5.1f}% "
            f"{steal:5.1f}% {send:8.3f} {per_request:5.0f}us{cells}  {rounds}"
        )
    busy = [t.name for t in targets if t.wall and t.others / t.wall > NOISY]
    if busy:
        print(
            f"warning: other processes used over {NOISY:.1%} of the CPUs during: "
            f"{', '.join(busy)}; these figures are not the targets' alone"
        )
    direct = next(t for t in targets if t.kind == "direct").percentiles_ms()
    nginx = next((t.percentiles_ms() for t in targets if t.kind == "nginx"), None)
    print(
        f"\n{'added latency in ms':36} {'minus direct':>15} "
        + (f"{'minus nginx':>15}" if nginx else "")
        + "  target: gateway-added p99 (minus direct)"
    )
    print(f"{'':36} {'p50':>7} {'p99':>7} " + (f"{'p50':>7} {'p99':>7}" if nginx else ""))
    for t in targets:
        if t.kind == "direct":
            continue
        figures = t.percentiles_ms()
        added99 = figures["p99"] - direct["p99"]
        cells = f"{figures['p50'] - direct['p50']:7.3f} {added99:7.3f} "
        if nginx:
            cells += (
                f"{figures['p50'] - nginx['p50']:7.3f} {figures['p99'] - nginx['p99']:7.3f}"
                if t.kind == "gateway"
                else f"{'':15}"
            )
        verdict = ""
        if t.kind == "gateway":
            healthy = t.errors == 0 and t.non_2xx == 0
            verdict = f"  p99 <= {target_ms:g} ms: " + (
                "PASS" if added99 <= target_ms and healthy else "MISS"
            )
            verdict += "" if healthy else " (errors)"
        print(f"{t.name:36} {cells}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=2000, help="requests per second")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="measured seconds per target, all rounds"
    )
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per target")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each round")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--pin", choices=["auto", "off"], default="auto", help="CPU placement")
    parser.add_argument(
        "--idle", choices=["poll", "halt"], default="poll", help="what idle CPUs do meanwhile"
    )
    parser.add_argument(
        "--nginx",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure nginx as a proxy on the gateway's CPU (when installed)",
    )
    parser.add_argument(
        "--retries", type=int, default=3, help="runs again of a round others disturbed"
    )
    parser.add_argument("--target-ms", type=float, default=TARGET_MS)
    parser.add_argument("--path", default="/customers/42", help="the request path")
    # The generator process's own arguments.
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--header", action="append", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args)
        return
    gateway_cpus, other_cpus = placement(args.pin)
    if other_cpus is not None:
        os.sched_setaffinity(0, other_cpus)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="interlink-bench-") as tmp:
        root = Path(tmp)
        awake = args.idle == "poll" and hold_cpus_awake(stack)
        idle = (
            "idle CPUs poll (/dev/cpu_dma_latency 0)"
            if awake
            else "idle CPUs halt"
            + (" (/dev/cpu_dma_latency not writable)" if args.idle == "poll" else "")
        )
        upstream, gateway = free_port(), free_port()
        quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        upstream_proc = start(
            stack,
            upstream_args(upstream),
            preexec_fn=pinned(other_cpus),
            **quiet,
        )
        wait_port(upstream)
        directory = estate(root, upstream)
        key = create_key(directory)
        serve_proc = start(
            stack,
            serve_args(directory, gateway),
            preexec_fn=pinned(gateway_cpus),
            **quiet,
        )
        wait_port(gateway)
        proxy: int | None = None
        nginx_pid = 0
        pids = [os.getpid(), upstream_proc.pid, serve_proc.pid]
        if args.nginx and shutil.which("nginx"):
            proxy = free_port()
            conf = nginx_config(root, proxy, upstream)
            nginx = start(
                stack,
                nginx_args(conf),
                preexec_fn=pinned(gateway_cpus),
                **quiet,
            )
            wait_port(proxy)
            pids.append(nginx.pid)
            nginx_pid = nginx.pid
        elif args.nginx:
            print("nginx is not installed: no nginx reference", flush=True)
        where = (
            f"gateway{' and nginx' if proxy else ''} on CPU {sorted(gateway_cpus)}, "
            f"upstream and generator on CPU {sorted(other_cpus or ())}"
            if gateway_cpus is not None
            else "no CPU pinning"
        )
        seconds = args.duration / args.rounds
        print(
            f"open loop at {args.rate} req/s over {args.connections} connections, "
            f"{os.cpu_count()} CPUs, {where}, {idle}; {args.rounds} interleaved rounds of "
            f"{args.warmup:g} s warm-up and {seconds:g} s measured per target",
            flush=True,
        )
        targets = [
            Target("upstream (direct)", upstream, args.path, kind="direct", pid=upstream_proc.pid)
        ]
        if proxy is not None:
            targets.append(
                Target("nginx (1 worker)", proxy, args.path, kind="nginx", pid=nginx_pid)
            )
        targets += [
            Target("gateway (no policies)", gateway, args.path, pid=serve_proc.pid),
            Target(
                "gateway (key + limit + validation)",
                gateway,
                f"/p{args.path}",
                (f"x-api-key: {key}",),
                pid=serve_proc.pid,
            ),
        ]
        meter = CpuMeter(pids)
        for number in range(1, args.rounds + 1):
            print(f"  round {number}/{args.rounds}", flush=True)
            for target in targets:
                run_round(target, args, seconds, other_cpus, meter, args.retries)
    print_table(targets, args.target_ms)


if __name__ == "__main__":
    main()
