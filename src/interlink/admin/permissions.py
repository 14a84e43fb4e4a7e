"""The permission matrix of the admin API: one entry per endpoint, and nothing else decides.

Each entry names the action, the least role that may do it and its scope:

- ``public``: no token (health checks);
- ``read``: any token of at least the role, platform-wide or team-scoped: a Team's token reads
  everything a platform token of its role reads;
- ``team``: a platform-wide token of at least the role, or a token of a Team of at least the
  role when that Team owns every object the call acts on (``target`` finds them, owners.py);
- ``platform``: only platform-wide tokens of at least the role (token management, apply,
  reload, what data-plane nodes call).

An endpoint with no entry is refused to everyone (auth.py), and the table in
docs/operations.md is :func:`markdown` of this one (a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from interlink.admin import owners
from interlink.admin.owners import Target
from interlink.store import Role

Scope = Literal["public", "read", "team", "platform"]


@dataclass(frozen=True)
class Permission:
    action: str
    method: str
    path: str
    role: Role | None  # None only for public endpoints
    scope: Scope
    target: Target | None = None  # how a team-scoped action's owning Team is found


def _read(action: str, path: str, role: Role = "viewer", method: str = "GET") -> Permission:
    return Permission(action, method, path, role, "read")


def _team(action: str, method: str, path: str, target: Target) -> Permission:
    return Permission(action, method, path, "operator", "team", target)


def _platform(action: str, method: str, path: str, role: Role) -> Permission:
    return Permission(action, method, path, role, "platform")


PERMISSIONS: Final[tuple[Permission, ...]] = (
    Permission("health.live", "GET", "/healthz", None, "public"),
    Permission("health.ready", "GET", "/readyz", None, "public"),
    _read("estate.read", "/api/v1/estate"),
    _read("revisions.list", "/api/v1/estate/revisions"),
    _read("revisions.get", "/api/v1/estate/revisions/{revision_id}"),
    _read("graph.read", "/api/v1/graph"),
    _read("nodes.list", "/api/v1/nodes"),
    _read("events.list", "/api/v1/events"),
    _read("events.versions", "/api/v1/events/{name}/versions"),
    _read("events.version", "/api/v1/events/{name}/versions/{version}"),
    _read("compatibility.check", "/api/v1/compatibility", method="POST"),
    _read("events.log", "/api/v1/events/{name}/log"),
    _read("subscriptions.list", "/api/v1/subscriptions"),
    _read("replays.get", "/api/v1/replays/{replay_id}"),
    _read("dlq.list", "/api/v1/dlq"),
    _read("dlq.get", "/api/v1/dlq/{delivery_id}"),
    _read("notices.list", "/api/v1/notices"),
    _read("metrics.read", "/metrics"),
    _read("connections.list", "/api/v1/connections"),
    _read("monitors.list", "/api/v1/monitors"),
    _read("inventory.read", "/api/v1/inventory"),
    _read("impact.read", "/api/v1/impact/{kind}/{name}"),
    _read("catalog.search", "/api/v1/catalog/search"),
    _read("catalog.term", "/api/v1/catalog/terms/{name}"),
    _read("routes.comparison", "/api/v1/routes/{name}/comparison"),
    _read("lineage.trace", "/api/v1/lineage/{subject_type}/{key}"),
    _read("flows.list", "/api/v1/flows"),
    _read("runs.list", "/api/v1/flows/runs"),
    _read("runs.get", "/api/v1/flows/runs/{run_id}"),
    _read("runs.payload", "/api/v1/flows/runs/{run_id}/payloads/{digest}"),
    _read("alerts.list", "/api/v1/alerts"),
    _read("silences.list", "/api/v1/alerts/silences"),
    _team(
        "subscriptions.enable", "POST", "/api/v1/subscriptions/{name}/enable", owners.SUBSCRIPTION
    ),
    _team(
        "subscriptions.replay", "POST", "/api/v1/subscriptions/{name}/replays", owners.SUBSCRIPTION
    ),
    _team("dlq.retry", "POST", "/api/v1/dlq/retry", owners.DEAD_LETTERS),
    _team("dlq.discard", "POST", "/api/v1/dlq/discard", owners.DEAD_LETTERS),
    _team("flows.run", "POST", "/api/v1/flows/{name}/runs", owners.FLOW),
    _team("runs.retry", "POST", "/api/v1/flows/runs/{run_id}/retry", owners.RUN),
    _team("runs.cancel", "POST", "/api/v1/flows/runs/{run_id}/cancel", owners.RUN),
    _team("runs.retry_many", "POST", "/api/v1/flows/runs/retry", owners.FLOW_FILTER),
    _team("silences.add", "POST", "/api/v1/alerts/silences", owners.NEW_SILENCE),
    _team("products.refresh", "POST", "/api/v1/products/{name}/refresh", owners.PRODUCT),
    _team("products.sample", "GET", "/api/v1/products/{name}/sample", owners.PRODUCT),
    _team("silences.lift", "DELETE", "/api/v1/alerts/silences/{silence_id}", owners.SILENCE),
    _platform("estate.reload", "POST", "/api/v1/estate/reload", "operator"),
    _platform("estate.apply", "POST", "/api/v1/estate/revisions", "admin"),
    _platform("estate.write", "PUT", "/api/v1/estate/files", "admin"),
    _platform("tokens.list", "GET", "/api/v1/tokens", "admin"),
    _platform("tokens.create", "POST", "/api/v1/tokens", "admin"),
    _platform("tokens.revoke", "DELETE", "/api/v1/tokens/{token_id}", "admin"),
    _platform("audit.list", "GET", "/api/v1/audit", "admin"),
    _platform("audit.verify", "GET", "/api/v1/audit/verify", "admin"),
    _platform("secrets.list", "GET", "/api/v1/secrets", "admin"),
    _platform("secrets.set", "PUT", "/api/v1/secrets/{name}", "admin"),
    _platform("secrets.rotate", "POST", "/api/v1/secrets/{name}/rotate", "admin"),
    _platform("secrets.delete", "DELETE", "/api/v1/secrets/{name}", "admin"),
    _read("dataplane.current", "/api/v1/estate/revisions/current", role="dataplane"),
    _read("dataplane.bundle", "/api/v1/estate/bundles/{content_hash}", role="dataplane"),
    _platform("dataplane.report", "PUT", "/api/v1/nodes/{node_id}", "dataplane"),
)

#: The entries by (method, route path), as the router matched them.
BY_ROUTE: Final[Mapping[tuple[str, str], Permission]] = MappingProxyType(
    {(p.method, p.path): p for p in PERMISSIONS}
)


def _who(p: Permission) -> str:
    if p.scope == "public":
        return "anyone, no token"
    if p.role == "dataplane":
        return "dataplane tokens only"
    if p.scope == "platform":
        return (
            f"platform-wide {p.role} or admin"
            if p.role == "operator"
            else f"platform-wide {p.role}"
        )
    if p.scope == "read":
        return f"any token from {p.role} up, of any team"
    return f"platform-wide {p.role} or admin; {p.role} of the owning team"


def markdown() -> str:
    """The matrix as the Markdown table docs/operations.md holds."""
    lines = [
        "| action | endpoint | least role | scope | who may | owning team found from |",
        "|---|---|---|---|---|---|",
    ]
    for p in PERMISSIONS:
        found = p.target.what if p.target is not None else "-"
        role = p.role or "-"
        lines.append(
            f"| `{p.action}` | `{p.method} {p.path}` | {role} | {p.scope} | {_who(p)} | {found} |"
        )
    return "\n".join(lines) + "\n"


#: The entries by action: what the console checks a page or a button against.
BY_ACTION: Final[Mapping[str, Permission]] = MappingProxyType({p.action: p for p in PERMISSIONS})
