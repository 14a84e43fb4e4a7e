"""The per-route policy chain: compiled callables run, in order, before a request is proxied.

Each policy gets the request and its route and either returns None (carry on) or a
:class:`Reply` that answers the request in its place (401, 429, 422, …). A policy that can
decide at once returns that outcome directly; only one that must wait (a JWKS fetch, a shared
rate-limit counter, a request body) returns an awaitable of it. Most requests are decided
without waiting, and a coroutine per policy per request would cost more than the policy itself.
A policy that only adds headers to the response (RateLimit, Deprecation) appends them to
``request.response_headers``; the proxy sends them with whatever answer the client gets.
Policies are built once per snapshot by the factories in :data:`FACTORIES`, in chain order;
a factory returns None when its route does not need it.

A factory raises :class:`Unsupported` when the route asks for something the gateway cannot
enforce yet. Such a route is not mounted at all: serving it without the protection it
declares would be worse than not serving it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlink.estate.kinds.gateway import Route
from interlink.estate.model import Estate
from interlink.gateway.services import GatewayServices
from interlink.http.headers import Headers

if TYPE_CHECKING:
    from interlink.gateway.config import CompiledRoute
    from interlink.gateway.request import Request


@dataclass(frozen=True, slots=True)
class Reply:
    """A response a policy gives instead of the upstream's."""

    status: int
    detail: str
    headers: Headers = field(default_factory=list)
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more problem members (violations)


Outcome = Reply | None | Awaitable[Reply | None]
Policy = Callable[["Request", "CompiledRoute"], Outcome]
PolicyFactory = Callable[[Route, Estate, GatewayServices], Policy | None]


class Unsupported(Exception):
    """The route declares something this gateway does not enforce yet."""


def _lifecycle(route: Route, estate: Estate, services: GatewayServices) -> Policy | None:
    from interlink.gateway.lifecycle import lifecycle_policy  # it builds on Reply

    return lifecycle_policy(route, estate, services)


def _auth(route: Route, estate: Estate, services: GatewayServices) -> Policy | None:
    from interlink.gateway.auth import authentication  # it builds on Reply and Unsupported

    return authentication(route, estate, services)


def _plans(route: Route, estate: Estate, services: GatewayServices) -> Policy | None:
    from interlink.gateway.plans import plan_policy  # it builds on Reply and Unsupported

    return plan_policy(route, estate, services)


def _request_validation(route: Route, estate: Estate, services: GatewayServices) -> Policy | None:
    from interlink.gateway.validation import request_validation  # it builds on Reply

    return request_validation(route, estate, services)


# In chain order: whether the route still answers (410 past its Api's sunset, whoever asks;
# Deprecation and Sunset headers on every answer), who you are, then whether you may, then
# whether the request is valid.
FACTORIES: list[PolicyFactory] = [_lifecycle, _auth, _plans, _request_validation]


async def settle(outcome: Outcome) -> Reply | None:
    """The policy's verdict, awaited if it had to wait."""
    if outcome is None or isinstance(outcome, Reply):
        return outcome
    return await outcome


async def run_policies(request: Request, route: CompiledRoute) -> Reply | None:
    """The first Reply of the route's chain, or None when every policy let the request on."""
    for policy in route.policies:
        reply = policy(request, route)
        if reply is not None:
            if not isinstance(reply, Reply):
                reply = await reply
                if reply is None:
                    continue
            return reply
    return None


def compile_policies(route: Route, estate: Estate, services: GatewayServices) -> tuple[Policy, ...]:
    """The route's chain; raises Unsupported when it cannot be served yet."""
    chain = []
    for factory in FACTORIES:
        policy = factory(route, estate, services)
        if policy is not None:
            chain.append(policy)
    return tuple(chain)
