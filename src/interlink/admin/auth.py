"""Bearer-token authentication for the admin API, with viewer < operator < admin roles. A
token refused on an audited route leaves an entry in the audit log."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from interlink.admin.audited import record_refusal
from interlink.errors import AuthError, Forbidden
from interlink.store import Role, TokenInfo, role_allows


def require(role: Role) -> Callable[[Request], object]:
    """A dependency admitting callers whose token has at least ``role``."""

    async def dependency(request: Request) -> TokenInfo:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("this endpoint needs 'Authorization: Bearer <token>'")
        store = request.app.state.runtime.store
        info: TokenInfo | None = await run_in_threadpool(store.tokens.verify, token.strip())
        if info is None:
            raise AuthError("the token is unknown or revoked")
        if not role_allows(info.role, role):
            reason = f"this needs the {role} role; the token has {info.role}"
            await record_refusal(request, info, reason)  # on an audited route
            raise Forbidden(reason)
        return info

    return dependency
