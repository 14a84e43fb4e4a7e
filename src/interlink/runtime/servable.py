"""Whether the gateway would serve every Route: the part of `interlink check` that compiles.

The estate layer cannot judge this (it must not import the gateway), so `interlink check`
runs this pass after the estate's own: each Route is compiled as `interlink serve` would, and
one the gateway would leave out is an error at the Route. Whatever `check` passes, `serve`
serves.

No service of the running platform is needed. What only it has is not held against a route:
API keys (checked against the store's key ring) and publishing (into the event mesh) are left
out of the route compiled here (and so are the flow engine and the products: a flow route's
Flow is judged on its own, that it exists and its steps run, and a product route's DataProduct
that it exists and its source is read), and so are the values of `${env:…}` and `${secret:…}`
references that are not set where `check` runs. A reference that is set is resolved and
judged like any value.
"""

from __future__ import annotations

from interlink.estate.check import CheckResult
from interlink.estate.findings import Finding
from interlink.estate.kinds import Route
from interlink.estate.kinds.gateway import ApiKeyAuth
from interlink.estate.references import UnresolvedReference
from interlink.gateway.compiler import compile_route
from interlink.gateway.flow_route import started_flow
from interlink.gateway.policy import Unsupported
from interlink.gateway.product_route import served_product
from interlink.gateway.services import GatewayServices

CODE = "ROUTE_UNSERVED"


def unservable_routes(result: CheckResult) -> list[Finding]:
    """An error for each Route the gateway would not serve; none while the estate has errors
    besides passed sunsets (the compiler expects a valid estate and would only repeat them)."""
    if not result.runnable:
        return []
    estate = result.estate
    services = GatewayServices()
    out: list[Finding] = []
    for item in estate.loaded_of("Route"):
        assert isinstance(item.obj, Route)
        try:
            compile_route(without_platform_services(item.obj), estate, services)
            if item.obj.spec.flow is not None:
                started_flow(item.obj, estate)
            if item.obj.spec.product is not None:
                served_product(item.obj, estate)
        except Unsupported as exc:
            if isinstance(exc.__cause__, UnresolvedReference):
                continue
            out.append(
                Finding(
                    "error",
                    CODE,
                    f"{item.key} would not be served: {exc}",
                    item.location(),
                    subject=item.key,
                )
            )
    return out


def without_platform_services(route: Route) -> Route:
    """``route`` without what needs the running platform: its API-key methods, its publish
    target, the flow it starts and the product it serves. Everything else it declares is
    compiled and judged."""
    spec = route.spec
    auth = spec.auth
    if auth is not None:
        methods = [m for m in auth.methods if not isinstance(m, ApiKeyAuth)]
        auth = auth.model_copy(update={"methods": methods}) if methods else None
    plain = spec.model_copy(update={"auth": auth, "publish": None, "flow": None, "product": None})
    return route.model_copy(update={"spec": plain})
