"""Which of a route's upstreams answers a request.

Today the first non-shadow upstream answers every request. Weighted split and sticky
consumers replace :func:`choose_upstream` alone; nothing else picks an upstream.
"""

from __future__ import annotations

from interlink.gateway.config import CompiledRoute, UpstreamTarget
from interlink.gateway.request import Request


def choose_upstream(route: CompiledRoute, request: Request) -> UpstreamTarget:
    return route.primary[0]
