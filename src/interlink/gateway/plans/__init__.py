"""Plans: rate limits and quotas per consumer and route group, as a gateway policy.

A request's consumer is the one authentication earlier in the chain admitted
(``request.identity.consumer``; else ``request.consumer``); its Consumer's Plan applies.
Counters are kept per (plan, route group, consumer), the group being the Route's
``spec.group`` or else its name. A request without a consumer (a route
without auth), or whose consumer the estate does not declare, gets the Plan named
``anonymous`` keyed by the client's address, when the estate declares one, and is not
limited otherwise.

Counters live in this process (:mod:`.local`) unless the Platform sets
``gateway.rateLimitStore`` to a Redis URL; then they are shared (:mod:`.shared`), one EVALSHA
per request, with the local counters as the fallback while Redis is away.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from interlink.errors import ConfigError
from interlink.estate.kinds.gateway import Consumer, Plan, Route
from interlink.estate.model import Estate
from interlink.estate.references import resolve
from interlink.gateway.plans.limiter import PlanLimiter
from interlink.gateway.plans.local import LocalLimiter, table_for
from interlink.gateway.plans.model import CompiledPlan, compile_plan
from interlink.gateway.plans.shared import HEALTH_NAME, PlanOptions, SharedCounters
from interlink.gateway.policy import Outcome, Policy, Unsupported
from interlink.gateway.request import Request
from interlink.gateway.services import DEGRADED_KEY, GatewayServices
from interlink.gateway.state import StateKey

ANONYMOUS: Final = "anonymous"
# A PlanOptions here overrides the defaults.
OPTIONS_KEY: Final[StateKey[PlanOptions]] = StateKey("plans", "options")
SHARED_KEY: Final[StateKey[SharedCounters]] = StateKey("plans", "shared")
# The estate's Consumers and Plans as the plans policy reads them, built once per estate.
PLANS_KEY: Final[StateKey[dict[str, CompiledPlan]]] = StateKey("plans")
LIMITERS_KEY: Final[StateKey[dict[object, dict[str, PlanLimiter | None]]]] = StateKey(
    "plan limiters"
)
PLAN_OF_KEY: Final[StateKey[dict[str, str | None]]] = StateKey("consumer plans")

__all__ = [
    "ANONYMOUS",
    "HEALTH_NAME",
    "OPTIONS_KEY",
    "CompiledPlan",
    "PlanLimiter",
    "PlanOptions",
    "SharedCounters",
    "compile_plan",
    "plan_policy",
    "shared_counters",
]


def plan_policy(route: Route, estate: Estate, services: GatewayServices) -> Policy | None:
    """The plans policy of ``route``; None when no plan of the estate limits anything."""
    plans = services.per_estate(
        estate, PLANS_KEY, lambda: {plan.name: compile_plan(plan) for plan in estate.of(Plan)}
    )
    if all(plan.empty for plan in plans.values()):
        return None
    group = route.spec.group or route.name
    options = services.state.get(OPTIONS_KEY) or PlanOptions()
    shared = shared_counters(estate, services, options)
    denied = services.metrics.counter(
        "interlink_gateway_ratelimit_denied_total",
        "Requests answered 429 by a plan's rate limit or quota.",
        ("plan", "group", "policy"),
    )
    # The routes of one group share its counters, so they share the limiters too: built once
    # per group and estate rather than once per route.
    by_group = services.per_estate(estate, LIMITERS_KEY, dict)
    limiters = by_group.get((group, options, shared))
    if limiters is None:
        limiters = by_group[(group, options, shared)] = {}
        for name, plan in plans.items():
            if plan.empty:
                limiters[name] = None
                continue
            table = table_for(services.state, plan, group, options.max_entries)
            local = LocalLimiter(plan, table)
            limiters[name] = PlanLimiter(plan, group, local, shared, services.clock, denied)
    # Consumer → plan name, once per estate: a map per route would hold routes times consumers.
    plan_of = services.per_estate(
        estate, PLAN_OF_KEY, lambda: {c.name: c.spec.plan for c in estate.of(Consumer)}
    )
    anonymous = limiters.get(ANONYMOUS)
    if anonymous is None and not any(
        limiters.get(plan) is not None for plan in set(plan_of.values()) if plan is not None
    ):
        return None

    def enforce_plan(request: Request) -> Outcome:
        identity = request.identity
        consumer = identity.consumer if identity is not None else request.consumer
        if consumer is not None:
            name = plan_of.get(consumer)
            if name is not None and name in limiters:
                limiter = limiters[name]
                return None if limiter is None else limiter.check(request, consumer)
        if anonymous is None:
            return None
        return anonymous.check(request, request.client)

    return enforce_plan


def shared_counters(
    estate: Estate, services: GatewayServices, options: PlanOptions | None = None
) -> SharedCounters | None:
    """The Redis counters the Platform asks for, kept in ``services.state`` across reloads."""
    settings = estate.platform.spec.gateway
    declared = settings.rate_limit_store
    if not declared:
        return None
    try:
        url = resolve(declared)
    except ConfigError as exc:
        raise Unsupported(f"gateway.rateLimitStore: {exc.message}") from exc
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise Unsupported("gateway.rateLimitStore must be a redis://, rediss:// or unix:// URL")
    options = options or PlanOptions()
    if options.timeout is None:
        options = replace(options, timeout=settings.rate_limit_store_timeout)
    found = services.state.get(SHARED_KEY)
    if found is not None and found.url == url and found.timeout == options.timeout:
        return found
    health = services.state.get(DEGRADED_KEY)
    if health is None:
        health = services.state[DEGRADED_KEY] = {}
    shared = SharedCounters(url, metrics=services.metrics, health=health, options=options)
    services.state[SHARED_KEY] = shared
    return shared
