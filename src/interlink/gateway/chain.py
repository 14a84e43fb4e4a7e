"""The per-route policy chain: the factories that build a route's policies, in the order the
policies run (see :mod:`interlink.gateway.policy` for what a policy is)."""

from __future__ import annotations

from typing import Final

from interlink.estate.kinds.gateway import Route
from interlink.estate.model import Estate
from interlink.gateway.auth import authentication
from interlink.gateway.lifecycle import lifecycle_policy
from interlink.gateway.plans import plan_policy
from interlink.gateway.policy import Policy, PolicyFactory
from interlink.gateway.services import GatewayServices
from interlink.gateway.validation import request_validation

# In chain order: whether the route still answers (410 past its Api's sunset, whoever asks;
# Deprecation and Sunset headers on every answer), who you are, then whether you may, then
# whether the request is valid.
FACTORIES: Final[list[PolicyFactory]] = [
    lifecycle_policy,
    authentication,
    plan_policy,
    request_validation,
]


def compile_policies(route: Route, estate: Estate, services: GatewayServices) -> tuple[Policy, ...]:
    """The route's chain; raises Unsupported when it cannot be served yet."""
    chain = []
    for factory in FACTORIES:
        policy = factory(route, estate, services)
        if policy is not None:
            chain.append(policy)
    return tuple(chain)
