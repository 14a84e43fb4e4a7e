"""Plans with counters shared in a real Redis: sharing, atomicity, Redis going away and back."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from interlink.gateway.plans import (
    HEALTH_NAME,
    OPTIONS_KEY,
    SHARED_KEY,
    PlanOptions,
    SharedCounters,
    compile_plan,
)
from interlink.gateway.plans.limiter import PlanLimiter
from interlink.gateway.plans.local import LocalLimiter, LocalTable
from interlink.gateway.policy import settle
from interlink.gateway.request import Request
from interlink.gateway.services import DEGRADED_KEY, GatewayServices
from interlink.observe.metrics import Registry
from interlink.testing.processes import InterlinkProcess, free_port
from interlink.testing.services import redis_reachable, redis_url, require_service
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import GatewayThread, exchange
from tests.unit.gateway.plans_helpers import T0, Clock, plan
from tests.unit.gateway.test_plans_policy import compile_at, estate

pytestmark = pytest.mark.redis


@pytest.fixture
def url() -> str:
    found = redis_url()
    require_service("Redis", lambda: redis_reachable(found))
    return found


@pytest.fixture
def prefix(url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted after it."""
    unique = f"interlink-test:{uuid.uuid4().hex}:"
    yield unique
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=unique + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def limiter(
    shared: SharedCounters | None, clock: Clock, group: str = "orders", **spec: Any
) -> PlanLimiter:
    compiled = compile_plan(plan(**spec))
    local = LocalLimiter(compiled, LocalTable(compiled.layout))
    denied = Registry().counter("denied", "", ("plan", "group", "policy"))
    return PlanLimiter(compiled, group, local, shared, clock, denied)


def shared(url: str, prefix: str, timeout: float = 2.0, retry: float = 0.05) -> SharedCounters:
    options = PlanOptions(timeout=timeout, retry_interval=retry, prefix=prefix)
    return SharedCounters(url, metrics=Registry(), health={}, options=options)


def request(client: str = "10.0.0.1") -> Request:
    return Request(b"GET", "/orders", b"", "1.1", [], True, client, {})


async def allowed(lim: PlanLimiter, key: str = "acme", count: int = 1) -> list[bool]:
    return [await settle(lim.check(request(), key)) is None for _ in range(count)]


def test_two_workers_share_the_counters(url: str, prefix: str) -> None:
    async def main() -> None:
        clock = Clock()
        one, two = shared(url, prefix), shared(url, prefix)
        spec: dict[str, Any] = {"limits": [{"requests": 3, "per": "1m"}], "quotas": {"daily": 100}}
        a, b = limiter(one, clock, **spec), limiter(two, clock, **spec)
        try:
            assert await allowed(a, count=2) == [True, True]
            assert await allowed(b, count=2) == [True, False]
            assert await allowed(a) == [False]
            assert await allowed(b, key="globex") == [True]  # another consumer
            clock.advance(20)  # GCRA: one request back every 20 s
            assert await allowed(b, count=2) == [True, False]
            req = request()
            reply = await settle(a.check(req, "acme"))
            assert reply is not None
            assert reply.status == 429
            assert dict(req.response_headers)[b"ratelimit"] == b'"3-per-1m";r=0;t=60'
            assert not one.degraded
            assert not two.degraded
        finally:
            await one.aclose()
            await two.aclose()

    asyncio.run(main())


def test_sliding_window_and_quota_in_redis_match_local(url: str, prefix: str) -> None:
    async def main() -> None:
        clock = Clock()
        store = shared(url, prefix)
        spec: dict[str, Any] = {
            "algorithm": "sliding-window",
            "limits": [{"requests": 4, "per": "10s"}],
            "quotas": {"daily": 6},
        }
        lim = limiter(store, clock, **spec)
        local_clock = Clock()
        local = limiter(None, local_clock, **spec)
        try:
            for t, n in [(0, 5), (12.5, 2), (15, 2), (17.5, 2), (40, 3)]:
                clock.now = local_clock.now = T0 + t
                for _ in range(n):
                    in_redis = [await settle(lim.check(request(), "acme")) is None]
                    in_process = [await settle(local.check(request(), "acme")) is None]
                    assert in_redis == in_process, (t, n)
            assert not store.degraded
        finally:
            await store.aclose()

    asyncio.run(main())


def test_atomic_under_concurrency(url: str, prefix: str) -> None:
    async def main() -> None:
        clock = Clock()
        # A generous bound: this is about atomicity, not speed, on a possibly busy machine.
        stores = [shared(url, prefix, timeout=10) for _ in range(4)]
        spec: dict[str, Any] = {"limits": [{"requests": 50, "per": "1h"}], "quotas": {"daily": 80}}
        lims = [limiter(s, clock, **spec) for s in stores]
        try:
            calls = [settle(lims[i % 4].check(request(), "acme")) for i in range(400)]
            replies = await asyncio.gather(*calls)
            assert sum(r is None for r in replies) == 50
            assert all(not s.degraded for s in stores)
        finally:
            for s in stores:
                await s.aclose()

    asyncio.run(main())


class PrivateRedis:
    """A redis-server of this test's own, on ``port``, that the test may kill."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        assert binary is not None
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.proc = subprocess.Popen(
            [*args, "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while redis_reachable(self.url, timeout=0.2) is not True:
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    require_service(
        "redis-server", lambda: shutil.which("redis-server") is not None or "not on PATH"
    )
    server = PrivateRedis(free_port()).start()
    try:
        yield server
    finally:
        server.kill()


async def until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_redis_down_serves_locally_reports_degraded_then_resumes(
    private_redis: PrivateRedis,
) -> None:
    async def main() -> None:
        clock = Clock()
        health: dict[str, str] = {}
        metrics = Registry()
        options = PlanOptions(timeout=0.25, retry_interval=0.05, prefix="t:")
        store = SharedCounters(private_redis.url, metrics=metrics, health=health, options=options)
        lim = limiter(store, clock, limits=[{"requests": 2, "per": "1m"}])
        try:
            assert await allowed(lim, count=1) == [True]
            private_redis.kill()
            # The first request after the loss: decided locally, within the bound, no error.
            started = time.monotonic()
            # Decided locally, going on from the last counts Redis returned: one of two used.
            assert await allowed(lim, count=3) == [True, False, False]
            assert time.monotonic() - started < 1.0
            assert store.degraded
            assert HEALTH_NAME in health
            assert "unreachable" in health[HEALTH_NAME]
            gauge = metrics.gauge("interlink_gateway_ratelimit_store_degraded", "")
            assert gauge.value() == 1
            local = metrics.counter("interlink_gateway_ratelimit_local_decisions_total", "")
            assert local.value() == 3
            await asyncio.sleep(0.2)  # retries in the background keep failing
            assert store.degraded
            private_redis.start()  # a new, empty server on the same port: no script loaded
            await until(lambda: not store.degraded)
            assert health == {}
            assert gauge.value() == 0
            assert await allowed(lim, count=3) == [True, True, False]  # shared again
            assert local.value() == 3
            # A flushed script cache (NOSCRIPT) is reloaded on the spot.
            client = redis.Redis.from_url(private_redis.url)
            client.script_flush()
            client.close()
            assert await allowed(lim, key="globex") == [True]
            assert not store.degraded
        finally:
            await store.aclose()

    asyncio.run(main())


def test_hung_redis_counts_as_down(private_redis: PrivateRedis) -> None:
    async def main() -> None:
        store = SharedCounters(
            private_redis.url,
            metrics=Registry(),
            health={},
            options=PlanOptions(timeout=0.05, retry_interval=0.05, prefix="t:"),
        )
        lim = limiter(store, Clock(), limits=[{"requests": 5, "per": "1m"}])
        assert private_redis.proc is not None
        try:
            assert await allowed(lim) == [True]
            private_redis.proc.send_signal(signal.SIGSTOP)  # connected, but never answers
            started = time.monotonic()
            assert await allowed(lim, count=2) == [True, True]
            assert time.monotonic() - started < 0.5  # one timeout, then local at once
            assert store.degraded
            private_redis.proc.send_signal(signal.SIGCONT)
            await until(lambda: not store.degraded)
        finally:
            private_redis.proc.send_signal(signal.SIGCONT)
            await store.aclose()

    asyncio.run(main())


def errors_by_reason(metrics: Registry) -> dict[str, float]:
    errors = metrics.counter("interlink_gateway_ratelimit_store_errors_total", "", ("reason",))
    return {reason: errors.value(reason) for reason in ("slow", "unreachable")}


def test_a_slow_redis_never_multiplies_the_limit(private_redis: PrivateRedis) -> None:
    """Redis alive but too slow to answer in time: the worker goes on from the last counts
    Redis gave it, and says "slow", not "unreachable"."""

    async def main() -> None:
        health: dict[str, str] = {}
        metrics = Registry()
        options = PlanOptions(timeout=0.1, retry_interval=0.05, prefix="t:")
        store = SharedCounters(private_redis.url, metrics=metrics, health=health, options=options)
        lim = limiter(store, Clock(), limits=[{"requests": 5, "per": "1m"}])
        admin = redis.Redis.from_url(private_redis.url)
        try:
            assert await allowed(lim, count=3) == [True, True, True]
            admin.client_pause(5000, all=True)  # alive, answers nothing
            assert await allowed(lim, count=4) == [True, True, False, False]
            assert store.degraded
            assert "slow" in health[HEALTH_NAME]
            assert "unreachable" not in health[HEALTH_NAME]
            errors = errors_by_reason(metrics)
            assert errors["slow"] >= 1
            assert errors["unreachable"] == 0
        finally:
            admin.client_unpause()
            admin.close()
            await store.aclose()

    asyncio.run(main())


def test_a_dead_redis_is_told_apart_from_a_slow_one() -> None:
    async def main() -> None:
        health: dict[str, str] = {}
        metrics = Registry()
        options = PlanOptions(timeout=0.5, retry_interval=0.05, prefix="t:")
        closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        store = SharedCounters(closed, metrics=metrics, health=health, options=options)
        lim = limiter(store, Clock(), limits=[{"requests": 2, "per": "1m"}])
        try:
            assert await allowed(lim, count=3) == [True, True, False]  # nothing known: fresh
            assert "unreachable" in health[HEALTH_NAME]
            assert errors_by_reason(metrics) == {"slow": 0, "unreachable": 1}
        finally:
            await store.aclose()

    asyncio.run(main())


def test_the_platform_sets_the_stores_timeout(url: str, tmp_path: Path) -> None:
    plans = {"anonymous": {"limits": [{"requests": 2, "per": "1m"}]}}
    gateway = {"rateLimitStore": url, "rateLimitStoreTimeout": "750ms"}
    root = estate(tmp_path / "estate", plans, {}, platform={"gateway": gateway})
    services = GatewayServices()
    compile_at(root, services)
    store = services.state[SHARED_KEY]
    assert isinstance(store, SharedCounters)
    assert store.timeout == 0.75
    asyncio.run(store.aclose())


def test_end_to_end_through_the_gateway(url: str, prefix: str, tmp_path: Path) -> None:
    """Per client address under the `anonymous` plan, counters in Redis, real HTTP."""
    with UpstreamThread() as upstream:
        plans = {"anonymous": {"limits": [{"requests": 2, "per": "1m"}]}}
        root = estate(
            tmp_path / "estate",
            plans,
            {},
            platform={"gateway": {"rateLimitStore": url}},
        )
        # The estate's System points nowhere: aim it at the upstream.
        (root / "estate.yaml").write_text(
            (root / "estate.yaml").read_text().replace("http://127.0.0.1:9", upstream.url)
        )
        services = GatewayServices()
        services.state[OPTIONS_KEY] = PlanOptions(prefix=prefix, timeout=2.0)
        gateway = GatewayThread(compile_at(root, services)).start()
        try:
            get = b"GET /orders HTTP/1.1\r\nHost: x\r\n\r\n"
            first, _ = exchange(gateway.port, get, linger=0)
            second, _ = exchange(gateway.port, get, linger=0)
            third, _ = exchange(gateway.port, get, linger=0)
            assert [r[0].status for r in (first, second, third)] == [200, 200, 429]
            assert first[0].headers["ratelimit-policy"] == '"2-per-1m";q=2;w=60'
            assert first[0].headers["ratelimit"] == '"2-per-1m";r=1;t=30'
            denied = third[0]
            assert denied.headers["content-type"] == "application/problem+json"
            assert denied.headers["retry-after"] == "30"
            assert denied.headers["ratelimit"].startswith('"2-per-1m";r=0;t=')
            client = redis.Redis.from_url(url)
            try:
                assert list(client.scan_iter(match=prefix + "anonymous:orders:*"))
            finally:
                client.close()
            store: SharedCounters | None = services.state[SHARED_KEY]
            assert isinstance(store, SharedCounters)
            assert not store.degraded
            assert services.state[DEGRADED_KEY] == {}
        finally:
            store = services.state.get(SHARED_KEY)
            if isinstance(store, SharedCounters):
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(store.aclose(), gateway.loop).result(10)
            gateway.stop()


def test_serve_reports_redis_degraded_in_readyz(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    """`interlink serve`: Redis killed → requests still served, /readyz lists it; back → gone."""
    with UpstreamThread() as upstream:
        plans = {"anonymous": {"limits": [{"requests": 1000, "per": "1m"}]}}
        platform = {"gateway": {"rateLimitStore": private_redis.url + "?prefix=serve:"}}
        root = estate(tmp_path / "estate", plans, {}, platform=platform)
        (root / "estate.yaml").write_text(
            (root / "estate.yaml").read_text().replace("http://127.0.0.1:9", upstream.url)
        )
        admin, gateway = free_port(), free_port()
        listen = [
            "--admin-listen",
            f"127.0.0.1:{admin}",
            "--gateway-listen",
            f"127.0.0.1:{gateway}",
        ]
        proc = InterlinkProcess(["serve", str(root), *listen]).start()
        try:
            proc.wait_for(r"admin API on http://")
            base, front = f"http://127.0.0.1:{admin}", f"http://127.0.0.1:{gateway}"
            first = httpx.get(front + "/orders", timeout=10)
            assert first.status_code == 200
            assert first.headers["ratelimit"] == '"1000-per-1m";r=999;t=1'
            wait_ready(base)  # a 50 ms bound may trip once on a busy machine: it then recovers
            private_redis.kill()
            assert httpx.get(front + "/orders", timeout=10).status_code == 200
            ready = httpx.get(base + "/readyz")
            assert ready.status_code == 200
            assert "unreachable" in ready.json()["degraded"][HEALTH_NAME]
            private_redis.start()
            wait_ready(base)
            assert httpx.get(front + "/orders", timeout=10).status_code == 200
        finally:
            proc.stop()


def wait_ready(base: str, timeout: float = 15.0) -> None:
    """Until /readyz lists nothing degraded."""
    deadline = time.monotonic() + timeout
    while "degraded" in httpx.get(base + "/readyz", timeout=10).json():
        assert time.monotonic() < deadline, "still degraded"
        time.sleep(0.1)
