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


async def _check_scope(request: Request, permission: Permission, info: TokenInfo) -> None:
    """Forbidden unless a team-scoped token's Team may do ``permission`` here."""
    if info.team is None or permission.scope == "read":
        return
    if permission.scope == "platform" or permission.target is None:
        raise Forbidden(
            f"{permission.action} is platform-wide: a token of team {info.team} cannot do it"
        )
    targets = await permission.target.resolve(request)
    if not targets:
        raise Forbidden(
            f"a token of team {info.team} must name what it acts on: "
            f"{permission.target.what}, owned by {info.team}"
        )
    for owned in targets:
        if owned.team != info.team:
            owner = f"team {owned.team}" if owned.team else "no team"
            raise Forbidden(
                f"{owned.target} is owned by {owner}: a token of team {info.team} "
                f"cannot {permission.action} it"
            )


async def authorize(request: Request) -> Grant | None:
    """The grant for this call (None for a public endpoint), or 401/403 problem+json."""
    permission = _permission(request)
    if permission.role is None:
        return None
    info = await _token(request)
    try:
        if not role_allows(info.role, permission.role):
            raise Forbidden(f"this needs the {permission.role} role; the token has {info.role}")
        await _check_scope(request, permission, info)
    except Forbidden as refused:
        await record_refusal(request, info, refused.message)  # on an audited route
        raise
    grant = Grant(info.id, info.name, info.role, info.team, permission.action)
    request.state.grant = grant
    return grant


#: The grant of the call, in an endpoint's signature (the same check, run once per request).
Granted = Annotated[Grant, Depends(authorize)]
