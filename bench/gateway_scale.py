"""Memory of `interlink serve` with 1,000 routes and 10,000 consumers: the target is under 200 MB.

    .venv/bin/python bench/gateway_scale.py [--routes 1000] [--consumers 10000] [--keep DIR]

Starts the fixed-answer upstream (``interlink.testing.upstreams --fixed``) and generates an
estate around it:

- 10 Teams, 20 Systems (all pointing at the upstream), 10 Apis with an OpenAPI 3.0 contract each;
- ``--routes`` Routes, each on its own path prefix: every tenth a template
  (``/r0010/orders/{id}``), 70 % behind an API key requiring one of 50 scopes, one in 25 bound to
  an Api and validating requests against its contract, half of them sharing a rate-limit group
  with four others, a few splitting traffic over two Systems;
- 5 Plans with limits and quotas that the traffic never reaches, and an ``anonymous`` plan for
  the routes without authentication;
- ``--consumers`` Consumers, each on a plan and holding 3 of the 50 scopes, and one API key each.

The keys are created with the store API (``Store.consumer_keys.create``, as ``interlink consumers
key create`` does, without starting a process per key) in the estate's default SQLite store
(``.interlink/interlink.db`` under the estate, ``default_store_url``), and that URL is given to
``interlink serve --store-url`` as well, so both surely use the same file.

The script times ``interlink check`` on the estate, then starts ``interlink serve`` (one gateway
worker, ``--no-access-log``) and times how long it takes until the gateway answers a request.
It then sends traffic across the routes and the keys: every consumer calls two routes its
scopes admit (so each plan's table of per-consumer rate-limit state fills), and requests go to
the routes without authentication and to the validating routes. ``VmRSS`` and ``VmHWM`` (the
peak) of the serve process are read from ``/proc/PID/status`` after the traffic, and the CPU
the process uses while idle is measured over a few seconds; warnings and errors serve logged
are printed under the table. The same is done first for ``interlink serve`` on the small
estate of ``bench/gateway.py`` (2 routes, 1 consumer): the reference, measured in the same run.

To protect the machine, a serve process whose RSS passes ``--rss-abort`` (MB) is stopped and
reported as such; so is one that does not answer within ``--start-timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from check_estate import envelope
from gateway import VENV_BIN, estate, free_port, serve_args, start, upstream_args, wait_port
from interlink.store import default_store_url, open_store

DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
TARGET_MB = 200.0
TEAMS = 10
SYSTEMS = 20
APIS = 10
SCOPES = 50
PLANS = ("free", "bronze", "silver", "gold", "platinum")
TICKS = os.sysconf("SC_CLK_TCK")


def write_yaml(path: Path, docs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump_all(docs, Dumper=DUMPER, sort_keys=False, explicit_start=True))


def contract(index: int) -> dict[str, Any]:
    """An OpenAPI 3.0 document: a collection with a JSON body on POST, and an item by id."""
    item = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "email": {"type": "string", "format": "email"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    ok = {"200": {"description": "OK"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"Items {index}", "version": "1.0.0"},
        "paths": {
            "/items": {
                "get": {
                    "operationId": "listItems",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": ok,
                },
                "post": {
                    "operationId": "createItem",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": item}},
                    },
                    "responses": ok,
                },
            },
            "/items/{id}": {
                "get": {
                    "operationId": "getItem",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9]+$"},
                        }
                    ],
                    "responses": ok,
                }
            },
        },
    }


@dataclass
class RouteInfo:
    path: str  # a request path the route serves
    scope: str | None  # the scope it requires; None: no authentication
    validated: bool


@dataclass
class Scale:
    root: Path
    routes: list[RouteInfo] = field(default_factory=list)
    consumers: list[tuple[str, list[str]]] = field(default_factory=list)  # (name, scopes)


def scope(k: int) -> str:
    return f"svc-{k:02d}:read"


def generate(root: Path, upstream: int, n_routes: int, n_consumers: int) -> Scale:
    directory = root / "scale"
    scale = Scale(directory)
    base = f"http://127.0.0.1:{upstream}"
    teams = [f"team-{t}" for t in range(TEAMS)]
    org: list[dict[str, Any]] = [envelope("Platform", "scale", None)]
    org += [envelope("Team", t, None) for t in teams]
    org += [
        envelope(
            "System",
            f"sys-{s:02d}",
            {"domain": f"domain-{s % 5}", "baseUrl": base},
            owner=teams[s % TEAMS],
        )
        for s in range(SYSTEMS)
    ]
    apis = []
    for a in range(APIS):
        (directory / "contracts").mkdir(parents=True, exist_ok=True)
        (directory / "contracts" / f"items-{a}.openapi.json").write_text(json.dumps(contract(a)))
        apis.append(
            envelope(
                "Api",
                f"items-{a}",
                {
                    "system": f"sys-{a:02d}",
                    "contract": f"contracts/items-{a}.openapi.json",
                    "version": 1,
                },
                owner=teams[a % TEAMS],
            )
        )
    write_yaml(directory / "organisation.yaml", org + apis)

    plans = [
        envelope(
            "Plan",
            name,
            {
                "limits": [
                    {"requests": 100_000 * (p + 1), "per": "1s"},
                    {"requests": 50_000_000 * (p + 1), "per": "1h"},
                ],
                "quotas": {"daily": 500_000_000 * (p + 1), "monthly": 10_000_000_000},
            },
            owner=teams[0],
        )
        for p, name in enumerate(PLANS)
    ]
    plans.append(
        envelope(
            "Plan",
            "anonymous",
            {"algorithm": "sliding-window", "limits": [{"requests": 1_000_000, "per": "1s"}]},
            owner=teams[0],
        )
    )
    write_yaml(directory / "gateway" / "plans.yaml", plans)

    routes = []
    for i in range(n_routes):
        name = f"route-{i:04d}"
        spec: dict[str, Any] = {"upstreams": [{"system": f"sys-{i % SYSTEMS:02d}"}]}
        validated = i % 25 == 3
        if validated:
            spec["api"] = f"items-{i % APIS}"
            spec["match"] = {"path": f"/r{i:04d}/items"}
            spec["rewrite"] = {"path": "/items"}
            spec["validation"] = {"request": "enforce", "response": "off"}
            path = f"/r{i:04d}/items/{i}"
        elif i % 10 == 0:
            spec["match"] = {"path": f"/r{i:04d}/orders/{{id}}", "methods": ["GET"]}
            spec["rewrite"] = {"path": "/orders/{id}"}
            path = f"/r{i:04d}/orders/{i}"
        else:
            spec["match"] = {"path": f"/r{i:04d}"}
            if i % 3 == 0:
                spec["rewrite"] = {"path": f"/v1/things-{i % 7}"}
            path = f"/r{i:04d}/things/{i}"
        required = None
        if i % 10 < 7 or validated:
            required = scope(i % SCOPES)
            spec["auth"] = {"methods": [{"type": "apiKey"}], "scopes": [required]}
        if i % 2 == 0:
            spec["group"] = f"group-{i // 10}"
        if i % 50 == 7:
            spec["upstreams"] = [
                {"system": f"sys-{i % SYSTEMS:02d}", "weight": 90},
                {"system": f"sys-{(i + 1) % SYSTEMS:02d}", "weight": 10},
            ]
        routes.append(envelope("Route", name, spec, owner=teams[i % TEAMS]))
        scale.routes.append(RouteInfo(path, required, validated))
    write_yaml(directory / "gateway" / "routes.yaml", routes)

    per_file = 1000
    for f in range(0, n_consumers, per_file):
        docs = []
        for j in range(f, min(f + per_file, n_consumers)):
            held = sorted({scope(j % SCOPES), scope((j + 7) % SCOPES), scope((j + 19) % SCOPES)})
            name = f"consumer-{j:05d}"
            docs.append(
                envelope(
                    "Consumer",
                    name,
                    {
                        "type": "partner",
                        "plan": PLANS[j % len(PLANS)],
                        "scopes": held,
                        "contact": f"api@{name}.example.com",
                    },
                    owner=teams[j % TEAMS],
                )
            )
            scale.consumers.append((name, held))
        write_yaml(
            directory / "gateway" / "consumers" / f"consumers-{f // per_file:02d}.yaml", docs
        )
    return scale


def create_keys(store_url: str, consumers: list[str]) -> tuple[list[str], float]:
    """One key per consumer through the store API; the keys, and the seconds it took."""
    began = time.perf_counter()
    store = open_store(store_url)
    try:
        store.migrate()
        keys = [store.consumer_keys.create(name, "bench")[0] for name in consumers]
    finally:
        store.close()
    return keys, time.perf_counter() - began


def traffic(scale: Scale, keys: list[str], seed: int = 11) -> list[tuple[str, str | None]]:
    """(path, API key or None): two routes per consumer that its scopes admit, the routes
    without authentication, and the validating routes."""
    rng = random.Random(seed)
    by_scope: dict[str, list[RouteInfo]] = {}
    for route in scale.routes:
        if route.scope is not None:
            by_scope.setdefault(route.scope, []).append(route)
    requests: list[tuple[str, str | None]] = []
    for (_, held), key in zip(scale.consumers, keys, strict=True):
        admitted = [r for s in held for r in by_scope.get(s, [])]
        for route in rng.sample(admitted, min(2, len(admitted))):
            requests.append((route.path, key))
    holders: dict[str, list[int]] = {}
    for j, (_, held) in enumerate(scale.consumers):
        for s in held:
            holders.setdefault(s, []).append(j)
    for route in scale.routes:
        if route.scope is None:
            requests += [(route.path, None)] * 5
        elif route.validated:
            for j in rng.sample(holders[route.scope], min(20, len(holders[route.scope]))):
                requests.append((route.path, keys[j]))
    rng.shuffle(requests)
    return requests


async def _send(
    port: int, requests: list[tuple[str, str | None]], statuses: Counter[int], connections: int
) -> None:
    queue: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                path, key = queue.get_nowait()
                head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                if key is not None:
                    head += f"x-api-key: {key}\r\n"
                writer.write((head + "\r\n").encode())
                response = await reader.readuntil(b"\r\n\r\n")
                lines = response.split(b"\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                statuses[int(lines[0].split(b" ", 2)[1])] += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


def send(port: int, requests: list[tuple[str, str | None]], connections: int = 16) -> Counter[int]:
    statuses: Counter[int] = Counter()
    asyncio.run(_send(port, requests, statuses, connections))
    return statuses


def status_of(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB."""
    found: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0]) / 1024
    return found


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (float(fields[11]) + float(fields[12])) / TICKS


def get_status(port: int, path: str, key: str | None, timeout: float = 1.0) -> int | None:
    """The status of one request, or None when the gateway does not answer it in time (its
    socket listens before the gateway serves, so a connection alone proves nothing)."""

    async def probe() -> int:
        statuses: Counter[int] = Counter()
        await asyncio.wait_for(_send(port, [(path, key)], statuses, 1), timeout)
        return next(iter(statuses))

    try:
        return asyncio.run(probe())
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None


@dataclass
class Measured:
    name: str
    routes: int
    consumers: int
    keys: int
    check_s: float = float("nan")
    startup_s: float = float("nan")
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    rss_idle_mb: float = float("nan")
    rss_mb: float = float("nan")
    hwm_mb: float = float("nan")
    idle_cpu: float = float("nan")  # percent of one CPU while no request arrives
    failure: str = ""
    warnings: list[str] = field(default_factory=list)  # what serve logged as WARNING or ERROR


def time_check(directory: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        [str(VENV_BIN / "interlink"), "check", str(directory)],
        check=False,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        raise SystemExit(f"interlink check {directory} exited {done.returncode}")
    return elapsed


def measure(
    m: Measured,
    directory: Path,
    store_url: str,
    probe: tuple[str, str | None],
    requests: list[tuple[str, str | None]],
    args: argparse.Namespace,
) -> None:
    print(f"{m.name}: interlink check", flush=True)
    m.check_s = time_check(directory)
    log_path = directory.parent / f"{directory.name}-serve.log"
    with ExitStack() as stack, log_path.open("w") as log:  # stops serve when done
        serve(stack, log, m, directory, store_url, probe, requests, args)
    if m.failure:
        print(f"{m.name}: {m.failure}; the end of its log:", log_path.read_text()[-3000:], sep="\n")
    else:
        m.warnings = [
            line.split(" ", 2)[2]  # without the date and time
            for line in log_path.read_text().splitlines()
            if " WARNING " in line or " ERROR " in line
        ]


def serve(
    stack: ExitStack,
    log: IO[str],
    m: Measured,
    directory: Path,
    store_url: str,
    probe: tuple[str, str | None],
    requests: list[tuple[str, str | None]],
    args: argparse.Namespace,
) -> None:
    gateway = free_port()
    began = time.perf_counter()
    proc = start(
        stack,
        serve_args(directory, gateway, "--store-url", store_url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    print(f"{m.name}: interlink serve (pid {proc.pid}), waiting for the gateway", flush=True)
    peak = 0.0
    while True:
        elapsed = time.perf_counter() - began
        if proc.poll() is not None:
            m.failure = f"serve exited {proc.returncode} after {elapsed:.1f} s "
            return
        peak = max(peak, status_of(proc.pid).get("VmRSS", 0.0))
        if peak > args.rss_abort:
            m.failure = f"stopped while starting: RSS {peak:.0f} MB after {elapsed:.1f} s"
            m.hwm_mb = status_of(proc.pid)["VmHWM"]
            proc.kill()
            return
        if elapsed > args.start_timeout:
            m.failure = f"not serving after {elapsed:.0f} s (RSS {peak:.0f} MB)"
            m.hwm_mb = status_of(proc.pid)["VmHWM"]
            proc.kill()
            return
        if get_status(gateway, *probe) == 200:
            break
        time.sleep(0.05)
    m.startup_s = time.perf_counter() - began
    time.sleep(2)  # let start-up work in the background (key ring, mesh) settle
    m.rss_idle_mb = status_of(proc.pid)["VmRSS"]
    print(f"{m.name}: serving after {m.startup_s:.1f} s, {len(requests)} requests", flush=True)
    m.statuses = send(gateway, requests)
    m.requests = len(requests)
    time.sleep(1)
    before = cpu_seconds(proc.pid)
    time.sleep(args.idle_seconds)
    m.idle_cpu = 100 * (cpu_seconds(proc.pid) - before) / args.idle_seconds
    memory = status_of(proc.pid)
    m.rss_mb, m.hwm_mb = memory["VmRSS"], memory["VmHWM"]


def print_table(results: list[Measured], target_mb: float) -> None:
    print(
        f"\n{'estate':22} {'routes':>6} {'consumers':>9} {'keys':>6} {'check s':>8} "
        f"{'start s':>8} {'requests':>8} {'RSS idle':>8} {'VmRSS':>7} {'VmHWM':>7} {'idle CPU':>8}"
    )
    for m in results:
        print(
            f"{m.name:22} {m.routes:6d} {m.consumers:9d} {m.keys:6d} {m.check_s:8.2f} "
            f"{m.startup_s:8.2f} {m.requests:8d} {m.rss_idle_mb:8.1f} {m.rss_mb:7.1f} "
            f"{m.hwm_mb:7.1f} {m.idle_cpu:7.1f}%"
        )
    print("(memory in MB; start s: from starting `interlink serve` to the gateway's first answer)")
    for m in results:
        answered = ", ".join(f"{n} x {s}" for s, n in sorted(m.statuses.items()))
        print(f"{m.name}: answers {answered or 'none'}" + (f"; {m.failure}" if m.failure else ""))
        for line in m.warnings[:5]:
            print(f"  serve logged: {line}")
    scale = results[-1]
    peak = scale.hwm_mb
    ok = not scale.failure and peak < target_mb and set(scale.statuses) == {200}
    verdict = "PASS" if ok else "MISS"
    print(
        f"\n{scale.name}: VmHWM {peak:.1f} MB, VmRSS {scale.rss_mb:.1f} MB, "
        f"baseline {results[0].rss_mb:.1f} MB; target < {target_mb:g} MB: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--consumers", type=int, default=10_000)
    parser.add_argument("--target-mb", type=float, default=TARGET_MB)
    parser.add_argument("--rss-abort", type=float, default=4096.0, help="MB: stop serve past it")
    parser.add_argument("--start-timeout", type=float, default=900.0, help="seconds")
    parser.add_argument("--idle-seconds", type=float, default=6.0, help="idle CPU sampling")
    parser.add_argument("--keep", type=Path, help="generate the estates here and keep them")
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=False)
            root = args.keep.resolve()
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="interlink-bench-")))
        upstream = free_port()
        start(
            stack,
            upstream_args(upstream),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(upstream)

        small = estate(root, upstream)
        small_url = default_store_url(small.resolve())
        (small_key,), _ = create_keys(small_url, ["bench"])
        baseline = Measured("bench estate (baseline)", 2, 1, 1)
        small_requests = [("/customers/42", None), ("/p/customers/42", small_key)] * 1000
        measure(
            baseline,
            small,
            small_url,
            ("/p/customers/42", small_key),
            small_requests,
            args,
        )

        began = time.perf_counter()
        scale = generate(root, upstream, args.routes, args.consumers)
        print(
            f"generated {args.routes} routes and {args.consumers} consumers in "
            f"{time.perf_counter() - began:.1f} s",
            flush=True,
        )
        scale_url = default_store_url(scale.root.resolve())
        keys, seconds = create_keys(scale_url, [name for name, _ in scale.consumers])
        print(f"created {len(keys)} keys through the store API in {seconds:.1f} s", flush=True)
        requests = traffic(scale, keys)
        first = next(r for r in scale.routes if r.scope is not None)
        holder = next(j for j, (_, held) in enumerate(scale.consumers) if first.scope in held)
        big = Measured("scale estate", args.routes, args.consumers, len(keys))
        measure(big, scale.root, scale_url, (first.path, keys[holder]), requests, args)
    print_table([baseline, big], args.target_mb)


if __name__ == "__main__":
    main()
