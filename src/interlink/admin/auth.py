"""Bearer-token authentication and authorization for the admin API.

:func:`authorize` runs before every endpoint (the app installs it once): it finds the
endpoint's entry in the permission matrix (permissions.py), refuses an endpoint without one,
checks the token (unknown, revoked or expired: 401) and its role and scope (403), and keeps the
decision as a :class:`Grant` on ``request.state.grant`` for the endpoint and for the audit log.
A token refused on an audited route leaves an entry in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from interlink.admin.audited import record_refusal
from interlink.admin.owners import Owned
from interlink.admin.permissions import BY_ROUTE, Permission
from interlink.errors import AuthError, Forbidden
from interlink.store import Role, TokenInfo, role_allows


@dataclass(frozen=True)
class Grant:
    """Who was let through, as what, for which action: what an audit entry records."""

    token_id: str
    token_name: str
    role: Role
    team: str | None  # None: the token's role holds platform-wide
    action: str


def _permission(request: Request) -> Permission:
    route = request.scope.get("route")
    path = route.path if isinstance(route, APIRoute) else request.url.path
    found = BY_ROUTE.get((request.method, path))
    if found is None:  # deny by default: an endpoint is reachable only once it is listed
        raise Forbidden(f"no permission is declared for {request.method} {path}: refused")
    return found


async def _token(request: Request) -> TokenInfo:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("this endpoint needs 'Authorization: Bearer <token>'")
    store = request.app.state.runtime.store
    info: TokenInfo = await run_in_threadpool(store.tokens.check, token.strip())
    return info


def refusal(info: TokenInfo, permission: Permission, targets: list[Owned]) -> str | None:
    """Why ``info`` may not do ``permission`` on ``targets`` (what a team-scoped action acts
    on, with their owning Teams), or None when it may."""
    if permission.role is None:
        return None
    if not role_allows(info.role, permission.role):
        return f"this needs the {permission.role} role; the token has {info.role}"
    if info.team is None or permission.scope == "read":
        return None
    if permission.scope == "platform" or permission.target is None:
        return f"{permission.action} is platform-wide: a token of team {info.team} cannot do it"
    if not targets:
        return (
            f"a token of team {info.team} must name what it acts on: "
            f"{permission.target.what}, owned by {info.team}"
        )
    for owned in targets:
        if owned.team != info.team:
            owner = f"team {owned.team}" if owned.team else "no team"
            return (
                f"{owned.target} is owned by {owner}: a token of team {info.team} "
                f"cannot {permission.action} it"
            )
    return None


async def _targets(request: Request, permission: Permission, info: TokenInfo) -> list[Owned]:
    """What a team-scoped token's call acts on; resolved for such tokens only."""
    if info.team is None or permission.scope != "team" or permission.target is None:
        return []
    return await permission.target.resolve(request)


async def grant(
    request: Request,
    permission: Permission,
    info: TokenInfo,
    targets: list[Owned] | None = None,
) -> Grant:
    """The grant of ``info`` for ``permission`` (``targets`` when the caller found them, else
    the permission's resolver finds them in the request), or Forbidden, audited on an
    audited route."""
    if targets is None:
        targets = await _targets(request, permission, info)
    reason = refusal(info, permission, targets)
    if reason is not None:
        await record_refusal(request, info, reason)  # on an audited route
        raise Forbidden(reason)
    found = Grant(info.id, info.name, info.role, info.team, permission.action)
    request.state.grant = found
    return found


async def authorize(request: Request) -> Grant | None:
    """The grant for this call (None for a public endpoint), or 401/403 problem+json."""
    permission = _permission(request)
    if permission.role is None:
        return None
    return await grant(request, permission, await _token(request))


#: The grant of the call, in an endpoint's signature (the same check, run once per request).
Granted = Annotated[Grant, Depends(authorize)]
