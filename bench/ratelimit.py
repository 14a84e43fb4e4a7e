"""Rate-limit decisions per second: on local counters, and shared in Redis.

    .venv/bin/python bench/ratelimit.py [--seconds 2] [--redis redis://127.0.0.1:6379/0]

Reports, on one core:

- ``local gcra hit``: ``LocalLimiter.hit`` alone, one limit (10/s burst 10), 1,000 consumers;
- ``local gcra 2 limits + daily``: two limits and a daily quota;
- ``local sliding window``: the same two limits, sliding window;
- ``policy (local)``: the whole policy as the gateway runs it: decision, RateLimit headers;
- ``policy (redis)``: the same with the counters in Redis, one EVALSHA per decision, 64
  decisions in flight (skipped when Redis does not answer).

Figures are reported, never asserted. Keys written to Redis are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import uvloop

from interlink.estate.kinds.gateway import Plan
from interlink.gateway.plans import PlanOptions, SharedCounters, compile_plan
from interlink.gateway.plans.limiter import PlanLimiter
from interlink.gateway.plans.local import LocalLimiter, LocalTable
from interlink.gateway.policy import settle
from interlink.gateway.request import Request
from interlink.observe.metrics import Registry
from interlink.testing.services import redis_reachable, redis_url

CONSUMERS = [f"consumer-{i}" for i in range(1000)]
HIGH = [{"requests": 1_000_000, "per": "1s"}]  # never denies: measure the full path
TWO = [{"requests": 1_000_000, "per": "1s"}, {"requests": 10**9, "per": "1h"}]


def plan(**spec: Any) -> Plan:
    doc = {"apiVersion": "interlink/v1", "kind": "Plan", "metadata": {"name": "p"}, "spec": spec}
    return Plan.model_validate(doc)


def local(**spec: Any) -> LocalLimiter:
    compiled = compile_plan(plan(**spec))
    return LocalLimiter(compiled, LocalTable(compiled.layout))


def rate(seconds: float, step: Callable[[int], None]) -> float:
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for i in range(1000):
            step(i)
        done += 1000
    return done / (time.perf_counter() - started)


def bench_local(seconds: float) -> None:
    clock = time.time
    for name, lim in [
        ("local gcra hit", local(limits=HIGH)),
        ("local gcra 2 limits + daily", local(limits=TWO, quotas={"daily": 10**9})),
        ("local sliding window", local(algorithm="sliding-window", limits=TWO)),
    ]:
        hit = lim.hit
        per_second = rate(seconds, lambda i, hit=hit: hit(CONSUMERS[i], clock()))  # type: ignore[misc]
        print(f"{name:32} {per_second:>12,.0f} decisions/s")


def policy_limiter(shared: SharedCounters | None) -> PlanLimiter:
    compiled = compile_plan(plan(limits=TWO, quotas={"daily": 10**9}))
    table = LocalTable(compiled.layout)
    denied = Registry().counter("denied", "", ("plan", "group", "policy"))
    return PlanLimiter(compiled, "orders", LocalLimiter(compiled, table), shared, time.time, denied)


def request() -> Request:
    return Request(b"GET", "/orders", b"", "1.1", [], True, "10.0.0.1", {})


async def bench_policy_local(seconds: float) -> float:
    lim = policy_limiter(None)
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for i in range(1000):
            lim.check(request(), CONSUMERS[i])  # local counters decide at once
        done += 1000
    return done / (time.perf_counter() - started)


async def bench_policy_redis(url: str, seconds: float, in_flight: int = 64) -> float:
    prefix = f"bench:{uuid.uuid4().hex}:"
    shared = SharedCounters(
        url, metrics=Registry(), health={}, options=PlanOptions(prefix=prefix, timeout=1.0)
    )
    lim = policy_limiter(shared)
    done = 0
    started = time.perf_counter()

    async def worker(n: int) -> None:
        nonlocal done
        i = n
        while time.perf_counter() - started < seconds:
            await settle(lim.check(request(), CONSUMERS[i % 1000]))
            i += in_flight
            done += 1

    try:
        await asyncio.gather(*(worker(n) for n in range(in_flight)))
        elapsed = time.perf_counter() - started
        if shared.degraded:
            print("  (redis degraded during the run: figure includes local decisions)")
        keys = [key async for key in shared.client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await shared.client.delete(*keys)
    finally:
        await shared.aclose()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--redis", default=redis_url())
    args = parser.parse_args()
    bench_local(args.seconds)
    figure = uvloop.run(bench_policy_local(args.seconds))
    print(f"{'policy (local)':32} {figure:>12,.0f} decisions/s")
    reachable = redis_reachable(args.redis, timeout=1)
    if reachable is not True:
        print(f"{'policy (redis)':32} skipped: {reachable}")
        return
    figure = uvloop.run(bench_policy_redis(args.redis, args.seconds))
    print(f"{'policy (redis)':32} {figure:>12,.0f} decisions/s (64 in flight)")


if __name__ == "__main__":
    main()
