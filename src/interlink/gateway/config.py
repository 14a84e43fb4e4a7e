"""The gateway's immutable, compiled view of one estate: what every request is served from.

:func:`compile_gateway` runs when a snapshot is compiled, off the request path. A request reads
``server.config`` once and uses that object to the end, so a reload never mixes revisions.
Routes the gateway cannot serve yet are left out and listed in ``unserved``, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from interlink.errors import ConfigError
from interlink.estate.kinds import Route, System
from interlink.estate.model import Estate
from interlink.estate.references import resolve
from interlink.gateway.limits import Limits
from interlink.gateway.policy import Policy, Unsupported, compile_policies
from interlink.gateway.publish_route import Handler, compile_publish
from interlink.gateway.resilience import UpstreamGuard, compile_resilience
from interlink.gateway.rewrite import Rewrite
from interlink.gateway.routing import HostPattern, PathPattern, RouteKey, Router, with_implied
from interlink.gateway.services import GatewayServices
from interlink.gateway.shadow import Shadow, compile_shadow
from interlink.http.credential import Credential, compile_credential
from interlink.http.origin import Origin


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    system: str
    origin: Origin
    base: str  # path under the origin: baseUrl's path, then the upstream's; no trailing slash
    weight: int
    shadow: bool
    # The System's credentials, resolved: added to every call to it (http/credential.py).
    credential: Credential | None = None


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
    # Retries, breaker and bulkhead per upstream System (resilience.py); None: plain sends.
    resilience: Mapping[str, UpstreamGuard] | None = None
    # Answers in place of an upstream once the policies passed (a REST-to-event route).
    handler: Handler | None = None
    # The shadow upstream that gets a copy of each request, its answer compared (shadow.py).
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

    def unserved_line(self) -> str | None:
        """One log line naming the routes left out and why, or None when all are served."""
        if not self.unserved:
            return None
        listed = "; ".join(f"{u.route} ({u.reason})" for u in self.unserved)
        count = len(self.unserved)
        return f"{count} route{'s' if count > 1 else ''} not served yet: {listed}"


def compile_gateway(
    estate: Estate, base: Limits | None = None, services: GatewayServices | None = None
) -> GatewayConfig:
    """Compile every Route of ``estate``; ``base`` carries the limits not set in the estate."""
    services = services or GatewayServices()
    settings = estate.platform.spec.gateway
    limits = replace(
        base or Limits(),
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
    )
    compiled: list[CompiledRoute] = []
    unserved: list[Unserved] = []
    for route in sorted(estate.of(Route), key=lambda r: r.name):
        try:
            compiled.append(compile_route(route, estate, services))
        except Unsupported as exc:
            unserved.append(Unserved(route.name, str(exc)))
    keys = [RouteKey(r.name, r.path, r.host, r.methods, r) for r in compiled]
    return GatewayConfig(Router(keys), tuple(compiled), tuple(unserved), limits)


def compile_route(
    route: Route, estate: Estate, services: GatewayServices | None = None
) -> CompiledRoute:
    """Raises Unsupported, with the reason, when the route cannot be served (yet)."""
    spec = route.spec
    try:
        path = PathPattern.parse(spec.match.path)
        rewrite = Rewrite.parse(spec.rewrite.path, path) if spec.rewrite else None
    except ValueError as exc:
        raise Unsupported(str(exc)) from exc
    upstreams = tuple(_target(u.system, u.path, u.weight, u.shadow, estate) for u in spec.upstreams)
    services = services or GatewayServices()
    handler = compile_publish(route, estate, services) if spec.publish is not None else None
    policies = compile_policies(route, estate, services)
    primary = tuple(u for u in upstreams if not u.shadow)
    resilience = compile_resilience(route, (u.system for u in primary), services)
    timeouts = spec.resilience.timeouts
    shadow = compile_shadow(route, upstreams, services)
    return CompiledRoute(
        name=route.name,
        route=route,
        path=path,
        host=HostPattern.parse(spec.match.host) if spec.match.host else None,
        methods=with_implied(spec.match.methods),
        rewrite=rewrite,
        upstreams=upstreams,
        primary=primary,
        connect_timeout=timeouts.connect,
        read_timeout=timeouts.read,
        policies=policies,
        resilience=resilience or None,
        handler=handler,
        shadow=shadow,
    )


def _target(name: str, path: str, weight: int, shadow: bool, estate: Estate) -> UpstreamTarget:
    found = estate.get("System", name)
    if found is None or not isinstance(found.obj, System):
        raise Unsupported(f"System/{name} does not exist")
    base_url = found.obj.spec.base_url
    if not base_url:
        raise Unsupported(f"System/{name} has no baseUrl")
    try:
        origin, base = Origin.parse(resolve(base_url))
    except ConfigError as exc:
        raise Unsupported(f"baseUrl of System/{name}: {exc.message}") from exc
    if "?" in base:
        raise Unsupported(f"baseUrl of System/{name} has a query string")
    credential = None
    if found.obj.spec.credentials is not None:
        try:
            credential = compile_credential(found.obj.spec.credentials, name)
        except ConfigError as exc:
            raise Unsupported(exc.message) from exc
    path = (base.rstrip("/") + path).rstrip("/")
    return UpstreamTarget(name, origin, path, weight, shadow, credential)
