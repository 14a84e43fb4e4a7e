"""`interlink serve --workers 2`: the admin API's /metrics counts what every worker served, added
up, and a worker killed and restarted does not make a counter go back."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interlink.observe.merge import ProcessSnapshot, decode
from interlink.testing.processes import InterlinkProcess, free_port
from interlink.testing.upstreams import UpstreamThread
from tests.unit.gateway.helpers import route, write_estate

REQUESTS = re.compile(
    r'^interlink_gateway_requests_total\{route="customers",method="GET",status_class="2xx"\} '
    r"(\d+)$",
    re.MULTILINE,
)
DURATIONS = re.compile(
    r'^interlink_gateway_request_duration_seconds_count\{route="customers"\} (\d+)$', re.MULTILINE
)
UPSTREAM = re.compile(
    r'^interlink_gateway_upstream_requests_total\{route="customers",system="crm",'
    r'status_class="2xx"\} (\d+)$',
    re.MULTILINE,
)


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


class Platform:
    def __init__(self, proc: InterlinkProcess) -> None:
        self.proc = proc
        self.gateway = "http://" + proc.wait_for(r"gateway on http://(\S+)").group(1)
        self.admin = proc.wait_for(r"admin API on (http://\S+)").group(1)
        token = proc.wait_for(r"admin token \(shown once, store it now\): (\S+)").group(1)
        self.headers = {"authorization": f"Bearer {token}"}

    def metrics(self) -> str:
        answer = httpx.get(f"{self.admin}/metrics", headers=self.headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.text

    def requests(self, text: str | None = None) -> int:
        return value(REQUESTS, text if text is not None else self.metrics())

    def until(self, count: int) -> str:
        """/metrics once it counts ``count`` requests (a worker counts just after it answers)."""
        deadline = time.monotonic() + 10
        while True:
            text = self.metrics()
            if self.requests(text) >= count or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def send(self, count: int) -> None:
        for _ in range(count):  # a new connection each: the kernel spreads them over the workers
            assert httpx.get(f"{self.gateway}/api/customers").status_code == 200


def value(pattern: re.Pattern[str], text: str) -> int:
    found = pattern.search(text)
    return int(found.group(1)) if found else 0


def workers_of(parent: int) -> dict[int, str]:
    """Each worker process of ``parent`` with its metrics socket (from its options)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "stat").read_text()
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(status.rsplit(")", 1)[1].split()[1]) == parent and b"gateway.worker" in args[2]:
            found[int(entry.name)] = json.loads(args[3])["metrics_socket"]
    return found


def scrape(path: str) -> ProcessSnapshot:
    """One worker's own snapshot, read from its socket as the supervisor reads it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    return decode(data)


def own_requests(snapshot: ProcessSnapshot) -> float:
    for family in snapshot.families:
        if family.name == "interlink_gateway_requests_total":
            count = family.series.get(("customers", "GET", "2xx"), 0.0)
            assert isinstance(count, float)
            return count
    return 0.0


@pytest.mark.slow
def test_admin_metrics_add_up_the_workers_and_survive_a_killed_one(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    root = write_estate(
        tmp_path / "estate", {"crm": upstream.url}, [route("customers", "/api/customers", "crm")]
    )
    args = ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}", "--workers", "2"]
    proc = InterlinkProcess(args).start()
    try:
        platform = Platform(proc)
        workers = workers_of(proc.pid)
        assert len(workers) == 2
        for path in workers.values():  # private: a 0700 directory, 0600 sockets
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700

        platform.send(60)
        text = platform.until(60)
        assert platform.requests(text) == 60
        assert value(DURATIONS, text) == 60
        assert value(UPSTREAM, text) == 60
        assert 'interlink_gateway_worker_up{worker="1"} 1' in text
        assert 'interlink_gateway_worker_up{worker="2"} 1' in text
        assert text.count("# TYPE interlink_gateway_requests_total counter") == 1
        own = {pid: own_requests(scrape(path)) for pid, path in workers.items()}
        assert all(count > 0 for count in own.values()), own  # both served some
        assert sum(own.values()) == 60  # and /metrics shows their sum, in one series

        # a worker killed outright: its counts stay, and the supervisor restarts it
        victim, path = sorted(workers.items())[0]
        slot = Path(path).stem.removeprefix("worker-")
        os.kill(victim, signal.SIGKILL)
        proc.wait_for(rf"gateway worker {slot} exited \(code -9\); restarting")
        text = platform.metrics()  # within the restart's back-off
        assert platform.requests(text) == 60
        assert f'interlink_gateway_worker_up{{worker="{slot}"}} 0' in text

        seen = [60]
        deadline = time.monotonic() + 30
        while f'interlink_gateway_worker_up{{worker="{slot}"}} 1' not in text:
            assert time.monotonic() < deadline, proc.output
            time.sleep(0.1)
            text = platform.metrics()
            seen.append(platform.requests(text))
        assert seen == sorted(seen), seen  # never backwards
        assert f'interlink_gateway_worker_restarts_total{{worker="{slot}"}} 1' in text
        assert victim not in workers_of(proc.pid)

        platform.send(40)
        text = platform.until(100)
        assert platform.requests(text) == 100
        assert value(DURATIONS, text) == 100
    finally:
        code = proc.stop()
    assert code == 0, proc.output
