"""Compiling an estate's Routes into the :class:`~interlink.gateway.config.GatewayConfig` the
gateway serves from: each route's match, upstreams, policy chain, resilience and shadow.

Runs when a snapshot is compiled, off the request path.
"""

from __future__ import annotations

from dataclasses import replace

from interlink.errors import ConfigError
from interlink.estate.kinds import Route, System
from interlink.estate.model import Estate
from interlink.estate.references import resolve
from interlink.gateway.auth.oauth import compile_token_endpoint
from interlink.gateway.chain import compile_policies
from interlink.gateway.config import CompiledRoute, GatewayConfig, Unserved
from interlink.gateway.connection_limits import Limits
from interlink.gateway.flow_route import compile_flow
from interlink.gateway.policy import Unsupported
from interlink.gateway.product_route import compile_product
from interlink.gateway.publish_route import compile_publish
from interlink.gateway.resilience.guard import compile_resilience
from interlink.gateway.rewrite import Rewrite
from interlink.gateway.routing import HostPattern, PathPattern, RouteKey, Router, with_implied
from interlink.gateway.services import GatewayServices
from interlink.gateway.shadow.mirror import compile_shadow
from interlink.gateway.upstream import UpstreamTarget
from interlink.gateway.upstream_tls import with_system_tls
from interlink.http.credential import compile_credential
from interlink.http.origin import Origin


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
    return GatewayConfig(
        Router(keys),
        tuple(compiled),
        tuple(unserved),
        limits,
        tracing=services.tracing,
        oauth=compile_token_endpoint(estate, services),
    )


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
    services = services or GatewayServices()
    upstreams = tuple(
        _target(u.system, u.path, u.weight, u.shadow, estate, services) for u in spec.upstreams
    )
    handler = compile_publish(route, estate, services) if spec.publish is not None else None
    if spec.flow is not None:
        handler = compile_flow(route, estate, services)
    if spec.product is not None:
        handler = compile_product(route, estate, services)
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


def _target(
    name: str, path: str, weight: int, shadow: bool, estate: Estate, services: GatewayServices
) -> UpstreamTarget:
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
    origin = with_system_tls(origin, found, estate, services)
    credential = None
    if found.obj.spec.credentials is not None:
        try:
            credential = compile_credential(found.obj.spec.credentials, name)
        except ConfigError as exc:
            raise Unsupported(exc.message) from exc
    path = (base.rstrip("/") + path).rstrip("/")
    return UpstreamTarget(name, origin, path, weight, shadow, credential)
