"""What every way of signing in shares: the sign-in page, the limit on failed attempts per
client address, the audit record, and the session a sign-in opens.

Failed sign-ins are counted in the store (store/sign_in_failures.py), so a client guessing
tokens is refused by every node alike: past :data:`MAX_FAILURES` in a minute, sign-in answers
429 with ``Retry-After`` until the minute is over, whatever it sends.
"""

from __future__ import annotations

from typing import Final

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from interlink.admin.console.render import html
from interlink.admin.console.session import (
    BASE,
    COOKIE,
    SIGN_IN_COOKIE,
    check_sign_in_nonce,
    forget_cookie,
    form,
    set_cookie,
    sign_in_nonce,
    timeouts,
)
from interlink.store import Actor, Outcome, TokenInfo

#: Failed sign-ins a client address may make in a minute; the next ones are answered 429.
MAX_FAILURES: Final = 10
DATAPLANE_REFUSED: Final = (
    "a dataplane token is for data-plane nodes; sign in with a person's token"
)


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


def show_sign_in(
    request: Request,
    message: str | None,
    *,
    failed: bool,
    status: int = 200,
    template: str = "sign_in.html",
    code: str = "",
) -> Response:
    """The sign-in page (or ``template``), its double-submitted CSRF cookie set."""
    nonce = sign_in_nonce(request)
    response = html(
        request, template, status=status, message=message, failed=failed, nonce=nonce, code=code
    )
    set_cookie(request, response, SIGN_IN_COOKIE, nonce)
    return response


async def too_many(request: Request) -> Response | None:
    """The 429 page when this client failed too often this minute; None while it may try."""
    failures = request.app.state.runtime.store.sign_in_failures
    wait = await run_in_threadpool(failures.retry_after, client_of(request), MAX_FAILURES)
    if wait is None:
        return None
    message = (
        f"Too many failed sign-ins from your address: at most {MAX_FAILURES} a minute. "
        f"Try again in {wait} seconds."
    )
    response = show_sign_in(request, message, failed=True, status=429)
    response.headers["Retry-After"] = str(wait)
    return response


async def attempt(request: Request) -> dict[str, str] | Response:
    """The sign-in form posted, its CSRF field checked; the 429 page instead when this client
    failed too often."""
    fields = await form(request)
    check_sign_in_nonce(request, fields)
    refused = await too_many(request)
    return fields if refused is None else refused


async def failed(request: Request) -> None:
    """Count a failed sign-in of this client."""
    failures = request.app.state.runtime.store.sign_in_failures
    await run_in_threadpool(failures.record, client_of(request))


async def record(request: Request, token: TokenInfo, outcome: Outcome) -> None:
    who = Actor.of_token(token, client_of(request))
    log = request.app.state.runtime.store.audit
    await run_in_threadpool(log.record, who, "console.sign_in", f"token/{token.id}", outcome)


async def refuse_dataplane(request: Request, token: TokenInfo) -> Response:
    outcome = Outcome({})
    outcome.refuse(DATAPLANE_REFUSED)
    await failed(request)
    await record(request, token, outcome)
    return show_sign_in(request, DATAPLANE_REFUSED, failed=True, status=403)


async def open_session(request: Request, token: TokenInfo, outcome: Outcome) -> Response:
    """A session for ``token``, its cookie set, the sign-in recorded; to the console's home."""
    store = request.app.state.runtime.store
    idle, lifetime = timeouts(request)
    session_id = await run_in_threadpool(store.console_sessions.open, token.id, idle, lifetime)
    await record(request, token, outcome)
    response = RedirectResponse(BASE + "/", status_code=303)
    set_cookie(request, response, COOKIE, session_id)
    forget_cookie(request, response, SIGN_IN_COOKIE)
    return response
