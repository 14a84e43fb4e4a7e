"""One plan in one route group: decide a request, add its RateLimit headers, answer 429.

Headers (draft-ietf-httpapi-ratelimit-headers, structured fields, RFC 9651), on every
response of a limited request, the 429 included::

    RateLimit-Policy: "10-per-1s";q=10;w=1, "1000-per-1h";q=1000;w=3600, "daily";q=5000;w=86400
    RateLimit: "10-per-1s";r=7;t=1

``RateLimit-Policy`` lists every policy of the plan; ``RateLimit`` reports one: the one that
denied the request, else the one with the fewest requests left (``r``), with ``t`` the
seconds until it is whole again. A denied request gets ``429`` (problem+json) and
``Retry-After``: the seconds until the same request would be allowed, which for a used-up
quota is the end of its UTC day or month.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from interlink.gateway.plans.local import Decision, LocalLimiter
from interlink.gateway.plans.model import CALENDAR, DAY, EPOCH, CompiledPlan
from interlink.gateway.plans.shared import SharedCounters
from interlink.gateway.policy import Reply
from interlink.observe.metrics import Counter

if TYPE_CHECKING:
    from interlink.gateway.request import Request


class PlanLimiter:
    __slots__ = ("_args", "_key", "clock", "denied", "group", "local", "plan", "shared")

    def __init__(
        self,
        plan: CompiledPlan,
        group: str,
        local: LocalLimiter,
        shared: SharedCounters | None,
        clock: Callable[[], float],
        denied: Counter,
    ) -> None:
        self.plan = plan
        self.group = group
        self.local = local
        self.shared = shared
        self.clock = clock
        self.denied = denied
        self._key = f"{shared.prefix if shared else ''}{plan.name}:{group}:"
        self._args = script_args(plan)

    def check(self, request: Request, key: str) -> Reply | Awaitable[Reply | None] | None:
        """None when the request may go on (headers added); the 429 Reply otherwise. Decided
        at once on local counters; an awaitable when the shared counters must be asked."""
        now = self.clock()
        shared = self.shared
        if shared is None:
            return self._decide(request, self.local.hit(key, now))
        if shared.degraded:
            shared.local_decisions.inc()
            return self._decide(request, self.local.hit(key, now))
        return self._check_shared(shared, request, key, now)

    async def _check_shared(
        self, shared: SharedCounters, request: Request, key: str, now: float
    ) -> Reply | None:
        return self._decide(request, await self._hit_shared(shared, key, now))

    def _decide(self, request: Request, decision: Decision) -> Reply | None:
        allowed, index, left, reset, retry = decision
        plan = self.plan
        request.response_headers += (
            (b"ratelimit-policy", plan.policy_header),
            (b"ratelimit", plan.items[index] + b"%d;t=%d" % (left, math.ceil(reset))),
        )
        if allowed:
            return None
        return self._deny(index, retry)

    async def _hit_shared(self, shared: SharedCounters, key: str, now: float) -> Decision:
        day = now // DAY
        _start, month_end, month = CALENDAR.month(now)
        day_end = (day + 1) * DAY - EPOCH
        args = (now - EPOCH, day, day_end, month, month_end - EPOCH, *self._args)
        result = await shared.hit(self._key + key, args)
        if result is None:
            shared.local_decisions.inc()
            return self.local.hit(key, now)
        allowed, index, left, reset_ms, retry_ms, entry = result
        self.local.mirror(key, entry, now)
        return (allowed == 1, index, left, reset_ms / 1000, retry_ms / 1000)

    def _deny(self, index: int, retry: float) -> Reply:
        plan = self.plan
        name = plan.names[index]
        seconds = max(1, math.ceil(retry))
        self.denied.inc(plan.name, self.group, name)
        if index < len(plan.limits):
            detail = (
                f"rate limit {name} of plan {plan.name} exceeded on {self.group}; "
                f"retry in {seconds} s"
            )
            title = "Rate limit exceeded"
        else:
            period = "day (UTC)" if name == "daily" else "month (UTC)"
            detail = (
                f"{name} quota of plan {plan.name} ({plan.quota[index]} requests) used up "
                f"on {self.group}; it renews with the next {period}, in {seconds} s"
            )
            title = "Quota exhausted"
        return Reply(429, detail, [(b"retry-after", b"%d" % seconds)], title)


def script_args(plan: CompiledPlan) -> tuple[str | int | float, ...]:
    """The plan's part of the script's ARGV (see script.py), computed once."""
    gcra = plan.algorithm == "gcra"
    args: list[str | int | float] = ["g" if gcra else "s", len(plan.limits)]
    ttl = 0.0
    for limit in plan.limits:
        if gcra:
            args += [limit.interval, limit.tolerance]
            ttl = max(ttl, limit.tolerance + limit.interval)
        else:
            args += [limit.per, limit.requests]
            ttl = max(ttl, 2 * limit.per)
    args += [plan.daily, plan.monthly, ttl]
    return tuple(args)
