"""Gateway throughput against nginx, both proxying the same fast upstream, measured by wrk.

    .venv/bin/python bench/gateway.py [--duration 10] [--connections 64] [--rounds 3] [--no-pin]

Starts the upstream: a second nginx answering every request itself (``return 200 "ok"``, the
body and type the Python test upstream gives), so that the reference is never held down by
the upstream: the script prints the upstream's own rate and warns when it is not at least
twice the fastest proxy's. Then nginx as a reverse proxy with one worker and upstream
keep-alive, and ``interlink serve`` with one gateway worker,
a route without policies and one with an API key, a rate limit that is never reached and
request validation. Each is driven by ``wrk --latency`` in turn (after a warm-up). The table
gives requests per second, p50 and p99 latency and the ratio to nginx, each the median over
the rounds: every round runs all four, so a machine whose speed drifts moves them alike. It
also gives the CPU time (user + system) each proxy spent per request, which does not depend on
what else the machine was doing. With two CPUs or more, the proxy under test runs alone on the
last CPU and wrk and the upstream on the others (``--no-pin`` lets the kernel place them).
nginx and wrk are installed with apt-get when missing.

With ``--tls`` both proxies terminate TLS with the same certificate (a CA and a server
certificate made by the script, ECDSA P-256, TLS 1.3) and are measured twice: requests over
kept-alive TLS connections, and new connections per second (``Connection: close`` on every
request). wrk resumes a session when the server offers one, so both are set to offer none
(the gateway's ``sessionTickets: false``, nginx's ``ssl_session_tickets off`` and no session
cache): each new connection costs a full handshake. Each row's ratio
is to nginx doing the same; the upstream stays plain HTTP and keeps its headroom rule.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float | None = None  # CPU time (user + system) the proxy spent per request


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of ``pids`` and all their threads, in seconds."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def settle(pids: list[int], limit: float = 20.0) -> None:
    """Wait, up to ``limit`` seconds, until ``pids`` are idle (under 2 % of a core over a
    quarter second): work left over from one measurement (spans still being exported, rows
    still being written) must not be counted against the next."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        time.sleep(0.25)
        if cpu_seconds(pids) - before < 0.005:
            return


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def pin(pid: int, cpus: set[int]) -> None:
    """Keep ``pid`` (all its threads) on ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), cpus)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout}s")


def ensure_tools() -> None:
    missing = [tool for tool in ("nginx", "wrk") if shutil.which(tool) is None]
    if not missing:
        return
    print(f"installing {' '.join(missing)} with apt-get", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", *missing], check=True)


def start(stack: ExitStack, args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, **kwargs)  # type: ignore[call-overload]

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    stack.callback(stop)
    return proc  # type: ignore[no-any-return]


def upstream_args(port: int) -> list[str]:
    """The Python fixed-answer upstream on ``port`` (the latency and scale benches use it)."""
    return [sys.executable, "-m", "interlink.testing.upstreams", "--fixed", "--port", str(port)]


def nginx_args(conf: Path) -> list[str]:
    """nginx in the foreground of ``conf`` (see :func:`nginx_config`), its log beside it."""
    return ["nginx", "-p", str(conf.parent), "-c", str(conf), "-e", str(conf.parent / "error.log")]


def create_key(directory: Path, consumer: str = "bench") -> str:
    """A new API key for ``consumer`` of the estate in ``directory``, as the CLI prints it."""
    return subprocess.run(
        [str(VENV_BIN / "interlink"), "consumers", "key", "create", consumer],
        cwd=directory,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def serve_args(directory: Path, gateway: int, *extra: str) -> list[str]:
    """``interlink serve`` with one gateway worker on ``gateway`` and no access log (nginx runs
    here with ``access_log off``), the admin API on any free loopback port."""
    return [
        str(VENV_BIN / "interlink"),
        "serve",
        str(directory),
        *extra,
        "--admin-listen",
        "127.0.0.1:0",
        "--gateway-listen",
        f"127.0.0.1:{gateway}",
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def nginx_config(root: Path, port: int, upstream: int, tls: Pki | None = None) -> Path:
    """nginx as a reverse proxy on ``port`` to ``upstream``: one worker, upstream keep-alive;
    with ``tls``, HTTPS with its certificate and no session resumption (as the gateway is set
    up with ``--tls``), so that every new connection is a full handshake."""
    listen = f"127.0.0.1:{port}"
    if tls is not None:
        listen += f""" ssl;
    ssl_certificate {tls.cert};
    ssl_certificate_key {tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off"""
    server = f"""  upstream fast {{ server 127.0.0.1:{upstream}; keepalive 128; }}
  server {{
    listen {listen};
    location / {{
      proxy_pass http://fast;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
"""
    return _nginx_conf(root / "nginx", 1, server)


#: What every request to the upstream gets: the fixed answer of ``interlink.testing.upstreams
#: --fixed`` (200, text/plain, "ok"). Route (b) validates requests only, so any body would do;
#: the same one keeps the proxies' work what it was.
UPSTREAM_BODY = "ok"
#: How many times the fastest proxy's rate the upstream must serve directly.
UPSTREAM_HEADROOM = 2.0


def upstream_nginx_config(root: Path, port: int, workers: int) -> Path:
    """nginx answering every request itself on ``port``: no file, no proxying, so it serves
    several times what a proxy in front of it can, and the proxies are what is measured."""
    server = f"""  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      default_type text/plain;
      return 200 "{UPSTREAM_BODY}";
    }}
  }}
"""
    return _nginx_conf(root / "nginx-upstream", workers, server)


def _nginx_conf(temp: Path, workers: int, server: str) -> Path:
    """An nginx.conf in ``temp`` (created) for a foreground nginx with ``workers`` workers,
    no access log, and ``server`` inside its ``http`` block."""
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temp.mkdir()
    conf = temp / "nginx.conf"
    conf.write_text(
        f"""{user}worker_processes {workers};
daemon off;
pid {temp}/nginx.pid;
error_log {temp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
{server}}}
"""
    )
    return conf


@dataclass(frozen=True)
class Pki:
    """The certificate both proxies serve with ``--tls``, and the CA that issued it."""

    ca: Path
    cert: Path
    key: Path


def make_pki(root: Path) -> Pki:
    from interlink.testing.certificates import CertificateAuthority

    authority = CertificateAuthority(root / "pki", "Bench CA")
    issued = authority.server(["127.0.0.1", "bench.example"])
    return Pki(authority.ca, issued.cert, issued.key)


def estate(root: Path, upstream: int, tls: Pki | None = None) -> Path:
    directory = root / "estate"
    directory.mkdir()
    platform: dict[str, object] = {}
    if tls is not None:
        certificate = {"hosts": ["bench.example"], "cert": str(tls.cert), "key": str(tls.key)}
        # Full handshakes: wrk resumes sessions when the server lets it, nginx is set alike.
        tls_settings = {"certificates": [certificate], "sessionTickets": False}
        platform = {"gateway": {"tls": tls_settings}}
    docs = [
        {
            "apiVersion": "interlink/v1",
            "kind": "Platform",
            "metadata": {"name": "bench"},
            "spec": platform,
        },
        {"apiVersion": "interlink/v1", "kind": "Team", "metadata": {"name": "bench"}},
        {
            "apiVersion": "interlink/v1",
            "kind": "System",
            "metadata": {"name": "fast", "owner": "bench"},
            "spec": {"domain": "bench", "baseUrl": f"http://127.0.0.1:{upstream}"},
        },
        {
            "apiVersion": "interlink/v1",
            "kind": "Route",
            "metadata": {"name": "all", "owner": "bench"},
            "spec": {"match": {"path": "/"}, "upstreams": [{"system": "fast"}]},
        },
        # (b): API key, a rate limit that is never reached, request validation.
        {
            "apiVersion": "interlink/v1",
            "kind": "Api",
            "metadata": {"name": "customers", "owner": "bench"},
            "spec": {"system": "fast", "contract": "customers.openapi.json", "version": 1},
        },
        {
            "apiVersion": "interlink/v1",
            "kind": "Plan",
            "metadata": {"name": "bench", "owner": "bench"},
            "spec": {"limits": [{"requests": 1_000_000_000, "per": "1s"}]},
        },
        {
            "apiVersion": "interlink/v1",
            "kind": "Consumer",
            "metadata": {"name": "bench", "owner": "bench"},
            "spec": {"plan": "bench", "scopes": ["customers:read"]},
        },
        {
            "apiVersion": "interlink/v1",
            "kind": "Route",
            "metadata": {"name": "policied", "owner": "bench"},
            "spec": {
                "api": "customers",
                "match": {"path": "/p/customers"},
                "rewrite": {"path": "/customers"},
                "upstreams": [{"system": "fast"}],
                "auth": {"methods": [{"type": "apiKey"}], "scopes": ["customers:read"]},
                "validation": {"request": "enforce", "response": "off"},
            },
        },
    ]
    (directory / "estate.yaml").write_text("\n---\n".join(json.dumps(d) for d in docs))
    (directory / "customers.openapi.json").write_text(json.dumps(CONTRACT))
    return directory


CONTRACT = {
    "openapi": "3.0.3",
    "info": {"title": "Customers", "version": "1.0.0"},
    "paths": {
        "/customers/{id}": {
            "get": {
                "operationId": "getCustomer",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    }
                ],
                "responses": {"200": {"description": "One customer."}},
            }
        }
    },
}


def milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise SystemExit(f"cannot read wrk's latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(
    name: str,
    url: str,
    args: argparse.Namespace,
    *headers: str,
    proxy: list[int] | None = None,
    cpus: set[int] | None = None,
) -> Result:
    """One wrk run; with ``proxy`` (pids), the CPU those processes spent per request. wrk
    runs on ``cpus`` when given."""
    base = ["wrk", f"-t{args.threads}", f"-c{args.connections}"]
    for header in headers:
        base += ["-H", header]

    def on_cpus() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    subprocess.run([*base, "-d2s", url], check=True, capture_output=True, preexec_fn=on_cpus)
    before = cpu_seconds(proxy) if proxy else 0.0
    out = subprocess.run(
        [*base, f"-d{args.duration}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=on_cpus,
    ).stdout
    spent = cpu_seconds(proxy) - before if proxy else 0.0
    if re.search(r"^\s+99%\s+(\S+)\s*$", out, re.M) is None:
        raise SystemExit(f"{name}: wrk measured nothing:\n{out}")
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored: "Req/Sec … 75.50%" must not pass for the 50th percentile. wrk pads a latency
    # in seconds ("1.22s ") with a space.
    p50 = re.search(r"^\s+50%\s+(\S+)\s*$", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)\s*$", out, re.M).group(1)  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        print(f"  {name}: socket errors: {socket_errors.group(1)}", flush=True)
    return Result(
        name,
        rps,
        milliseconds(p50),
        milliseconds(p99),
        int(errors.group(1) if errors else 0),
        spent / done * 1e6 if proxy and done else None,
    )


@dataclass(frozen=True)
class Run:
    name: str
    url: str
    headers: tuple[str, ...] = ()
    proxy: list[int] | None = None  # whose CPU time is counted per request
    reference: int | None = None  # the run (nginx doing the same) this one is compared to


def plan_runs(
    args: argparse.Namespace,
    upstream: int,
    proxy: int,
    gateway: int,
    key: str,
    nginx_workers: list[int],
    serve: int,
) -> list[Run]:
    """What each round measures, the direct upstream first."""
    direct = Run("upstream (direct)", f"http://127.0.0.1:{upstream}{args.path}")
    if not args.tls:
        return [
            direct,
            Run("nginx (1 worker)", f"http://127.0.0.1:{proxy}{args.path}", proxy=nginx_workers),
            Run(
                "gateway (1 worker, no policies)",
                f"http://127.0.0.1:{gateway}{args.path}",
                proxy=[serve],
                reference=1,
            ),
            Run(
                "gateway (key + limit + validation)",
                f"http://127.0.0.1:{gateway}/p{args.path}",
                (f"x-api-key: {key}",),
                proxy=[serve],
                reference=1,
            ),
        ]
    nginx_url = f"https://127.0.0.1:{proxy}{args.path}"
    gateway_url = f"https://127.0.0.1:{gateway}{args.path}"
    close = ("Connection: close",)
    return [
        direct,
        Run("nginx TLS (kept-alive)", nginx_url, proxy=nginx_workers),
        Run("gateway TLS (kept-alive)", gateway_url, proxy=[serve], reference=1),
        Run("nginx TLS (new connection each)", nginx_url, close, proxy=nginx_workers),
        Run("gateway TLS (new connection each)", gateway_url, close, proxy=[serve], reference=3),
    ]


def ratio(result: Result, reference: Result) -> str:
    """``result``'s rate against ``reference``'s; n/a when the reference served nothing (on
    a machine so busy that every one of its connections timed out)."""
    return f"{result.rps / reference.rps:.2f}x" if reference.rps > 0 else "n/a"


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all four runs")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the kernel place every process (default: the proxy on its own CPU)",
    )
    parser.add_argument("--path", default="/customers/42", help="the request path")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="both proxies serve HTTPS: kept-alive request throughput and new TLS connections "
        "per second (a full handshake each), against nginx with the same certificate",
    )
    args = parser.parse_args()
    ensure_tools()
    rounds: list[list[Result]] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="interlink-bench-") as tmp:
        root = Path(tmp)
        upstream, proxy, gateway = free_port(), free_port(), free_port()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        cpus = sorted(os.sched_getaffinity(0))
        # As many upstream workers as CPUs left to wrk and the upstream (one at least).
        upstream_conf = upstream_nginx_config(root, upstream, max(1, len(cpus) - 1))
        upstream_proc = start(stack, nginx_args(upstream_conf), **quiet)
        wait_port(upstream)
        pki = make_pki(root) if args.tls else None
        conf = nginx_config(root, proxy, upstream, pki)
        nginx = start(
            stack,
            nginx_args(conf),
            **quiet,
        )
        wait_port(proxy)
        directory = estate(root, upstream, pki)
        key = create_key(directory)
        serve = start(
            stack,
            serve_args(directory, gateway),
            **quiet,
        )
        wait_port(gateway, 120.0)  # serve starts slowly on a busy machine
        time.sleep(0.5)  # nginx's worker is forked after its port opens
        nginx_workers = children(nginx.pid)
        load: set[int] | None = None
        if args.pin and len(cpus) >= 2:
            # The proxy under test (nginx's worker, or the gateway) alone on the last CPU, wrk
            # and the upstream on the others: neither proxy competes with the load for a core,
            # and runs do not differ by where the scheduler happened to put things.
            load = set(cpus[:-1])
            for pid in [upstream_proc.pid, *children(upstream_proc.pid)]:
                pin(pid, load)
            for pid in [nginx.pid, *nginx_workers, serve.pid]:
                pin(pid, {cpus[-1]})
        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
            f"{len(cpus)} CPUs, {args.rounds} round(s), "
            + (f"proxy on CPU {cpus[-1]}, wrk and upstream on the rest" if load else "unpinned"),
            flush=True,
        )
        runs = plan_runs(args, upstream, proxy, gateway, key, nginx_workers, serve.pid)
        # Rounds, each running every target back to back: a machine whose speed drifts (other
        # load, frequency) moves every figure of a round alike, so the ratios are taken within
        # each round and the median of each is reported.
        for number in range(1, args.rounds + 1):
            rounds.append(
                [
                    wrk(run.name, run.url, args, *run.headers, proxy=run.proxy, cpus=load)
                    for run in runs
                ]
            )
            ratios = " ".join(
                ratio(r, rounds[-1][run.reference])
                for r, run in zip(rounds[-1], runs, strict=True)
                if run.reference is not None
            )
            direct = rounds[-1][0].rps
            headroom = direct / max(*(r.rps for r in rounds[-1][1:]), 1.0)
            print(
                f"  round {number}: gateway vs nginx {ratios}; upstream direct {direct:,.0f} "
                f"req/s, {headroom:.1f}x the fastest proxy"
                + (f" (under {UPSTREAM_HEADROOM:g}x)" if headroom < UPSTREAM_HEADROOM else ""),
                flush=True,
            )
    print(
        f"\n{'target (median of rounds)':40} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'vs nginx':>9} {'CPU us/req':>11} {'non-2xx':>8}"
    )
    for index, run in enumerate(runs):
        results = [r[index] for r in rounds]
        ref = run.reference
        shown = f"{'-':>9}"
        measured = [r for r in rounds if ref is not None and r[ref].rps > 0]
        if ref is not None and measured:
            shown = f"{median([r[index].rps / r[ref].rps for r in measured]):8.2f}x"
        spent = [r.cpu_us for r in results if r.cpu_us is not None]
        cpu = f"{median(spent):11.1f}" if spent else f"{'-':>11}"
        print(
            f"{run.name:40} {median([r.rps for r in results]):10.0f} "
            f"{median([r.p50_ms for r in results]):8.2f} "
            f"{median([r.p99_ms for r in results]):8.2f} "
            f"{shown} {cpu} {sum(r.errors for r in results):8d}"
        )
    # The reference must not be held down by the upstream: it has to serve at least twice
    # what the fastest proxy does, or the proxies' figures say more about the upstream.
    direct = median([r[0].rps for r in rounds])
    fastest = max(median([r[index].rps for r in rounds]) for index in range(1, len(rounds[0])))
    print(
        f"\nupstream direct: {direct:,.0f} req/s, {direct / max(fastest, 1.0):.1f}x the fastest "
        f"proxy (at least {UPSTREAM_HEADROOM:g}x needed)"
    )
    if direct < UPSTREAM_HEADROOM * fastest:
        print(
            f"WARNING: the upstream serves less than {UPSTREAM_HEADROOM:g}x the fastest proxy: "
            "the proxies may be held down by it, not measured (a busy machine? --no-pin?)"
        )


if __name__ == "__main__":
    main()
