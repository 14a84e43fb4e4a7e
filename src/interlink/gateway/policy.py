"""What a policy is: a compiled callable run before a request is proxied, and its verdict.

Each policy gets the request and either returns None (carry on) or a
:class:`Reply` that answers the request in its place (401, 429, 422, …). A policy that can
decide at once returns that outcome directly; only one that must wait (a JWKS fetch, a shared
rate-limit counter, a request body) returns an awaitable of it. Most requests are decided
without waiting, and a coroutine per policy per request would cost more than the policy itself.
A policy that only adds headers to the response (RateLimit, Deprecation) appends them to
``request.response_headers``; the proxy sends them with whatever answer the client gets.
Policies are built once per snapshot by :data:`PolicyFactory` functions (the chain of them is
in :mod:`interlink.gateway.chain`); a factory returns None when its route does not need it.

A factory raises :class:`Unsupported` when the route asks for something the gateway cannot
enforce yet. Such a route is not mounted at all: serving it without the protection it
declares would be worse than not serving it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from interlink.estate.kinds.gateway import Route
from interlink.estate.model import Estate
from interlink.gateway.request import Request
from interlink.gateway.services import GatewayServices
from interlink.http.headers import Headers


@dataclass(frozen=True, slots=True)
class Reply:
    """A response a policy gives instead of the upstream's."""

    status: int
    detail: str
    headers: Headers = field(default_factory=list)
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more problem members (violations)


Outcome = Reply | None | Awaitable[Reply | None]
Policy = Callable[[Request], Outcome]
PolicyFactory = Callable[[Route, Estate, GatewayServices], Policy | None]


class Unsupported(Exception):
    """The route declares something this gateway does not enforce yet."""


async def settle(outcome: Outcome) -> Reply | None:
    """The policy's verdict, awaited if it had to wait."""
    if outcome is None or isinstance(outcome, Reply):
        return outcome
    return await outcome
