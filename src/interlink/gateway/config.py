"""The gateway's immutable, compiled view of one estate: what every request is served from.

:func:`~interlink.gateway.compiler.compile_gateway` builds it when a snapshot is compiled, off
the request path. A request reads ``server.config`` once and uses that object to the end, so a
reload never mixes revisions. Routes the gateway cannot serve yet are left out and listed in
``unserved``, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from interlink.estate.kinds import Route
from interlink.gateway.auth.token_endpoint import TokenEndpoint
from interlink.gateway.connection_limits import Limits
from interlink.gateway.policy import Policy
from interlink.gateway.publish_route import Handler
from interlink.gateway.resilience.guard import UpstreamGuard
from interlink.gateway.rewrite import Rewrite
from interlink.gateway.routing import HostPattern, PathPattern, Router
from interlink.gateway.services import RequestTracing
from interlink.gateway.shadow.mirror import Shadow
from interlink.gateway.upstream import UpstreamTarget


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    name: str
    route: Route
    path: PathPattern
    host: HostPattern | None
    methods: frozenset[str] | None
    rewrite: Rewrite | None
    upstreams: tuple[UpstreamTarget, ...]
    primary: tuple[UpstreamTarget, ...]  # the non-shadow upstreams, which answer
    connect_timeout: float
    read_timeout: float
    policies: tuple[Policy, ...]
    # Retries, breaker and bulkhead per upstream System (resilience/); None: plain sends.
    resilience: Mapping[str, UpstreamGuard] | None = None
    # Answers in place of an upstream once the policies passed (a REST-to-event route).
    handler: Handler | None = None
    # The shadow upstream that gets a copy of each request, its answer compared (shadow/).
    shadow: Shadow | None = None


@dataclass(frozen=True, slots=True)
class Unserved:
    route: str
    reason: str


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    router: Router[CompiledRoute]
    routes: tuple[CompiledRoute, ...]
    unserved: tuple[Unserved, ...]
    limits: Limits
    # The spans of each request when tracing is on (GatewayServices.tracing); None: off.
    tracing: RequestTracing | None = None
    # /oauth/token and the .well-known documents, when the Platform sets gateway.oauth.
    oauth: TokenEndpoint | None = None

    def unserved_line(self) -> str | None:
        """One log line naming the routes left out and why, or None when all are served."""
        if not self.unserved:
            return None
        listed = "; ".join(f"{u.route} ({u.reason})" for u in self.unserved)
        count = len(self.unserved)
        return f"{count} route{'s' if count > 1 else ''} not served yet: {listed}"
