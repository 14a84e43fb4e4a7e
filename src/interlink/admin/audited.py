"""What the admin API's changes and privileged actions write to the audit log.

A route that changes something declares its action with ``openapi_extra=audited_route(...)``
(published in the OpenAPI document as ``x-audit-action``) and runs inside :func:`audited`,
which appends one entry when it ends: ``ok``, ``refused`` or ``failed`` with the reason. A
token whose role is too low for such a route is refused before the handler runs; the role check
records that attempt (:func:`record_refusal`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from interlink.errors import StoreError
from interlink.store import Action, Actor, TokenInfo
from interlink.store.audit import ACTIONS, Outcome

if TYPE_CHECKING:  # auth.py records its refusals here, so it is imported only for the type
    from interlink.admin.auth import Grant

EXTENSION: Final = "x-audit-action"

_log = logging.getLogger("interlink.admin")


def audited_route(action: Action, **openapi: Any) -> dict[str, Any]:
    """The ``openapi_extra`` of a route whose calls are audited as ``action``."""
    return {**openapi, EXTENSION: action}


def action_of(request: Request) -> Action | None:
    """The audited action of the route ``request`` reached, if it is one."""
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    action = extra.get(EXTENSION)
    for known in ACTIONS:
        if action == known:
            return known
    return None


def _address(request: Request) -> str:
    client = request.client
    return client.host if client is not None else ""


def actor(request: Request, who: Grant) -> Actor:
    return Actor(who.token_name, _address(request) or "unknown", who.token_id, who.role)


@asynccontextmanager
async def audited(
    request: Request, who: Grant, action: Action, target: str, **details: Any
) -> AsyncIterator[Outcome]:
    """Run the block as ``action`` on ``target`` by ``who``, and append its entry at the end,
    whether the block succeeds, is refused or raises."""
    outcome = Outcome(dict(details))
    try:
        yield outcome
    except Exception as exc:
        outcome.failed_with(exc)
        await _append(request, who, action, target, outcome)
        raise
    await _append(request, who, action, target, outcome)


async def record_refusal(request: Request, who: TokenInfo, reason: str) -> None:
    """Append a refused attempt when ``request`` reached an audited route."""
    action = action_of(request)
    if action is None:
        return
    outcome = Outcome({"method": request.method})
    outcome.refuse(reason)
    log = request.app.state.runtime.store.audit
    by = Actor.of_token(who, _address(request))
    try:
        await run_in_threadpool(log.record, by, action, request.url.path, outcome)
    except StoreError as exc:  # the caller is refused all the same
        _log.error("the audit log could not record a refused %s: %s", action, exc.message)


async def _append(
    request: Request, who: Grant, action: Action, target: str, outcome: Outcome
) -> None:
    log = request.app.state.runtime.store.audit
    await run_in_threadpool(log.record, actor(request, who), action, target, outcome)
