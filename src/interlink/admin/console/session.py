"""Signing in to the console: an admin token exchanged for a session cookie.

The cookie holds a random session id (the store keeps only its hash, store/console_sessions.py)
and is HttpOnly, SameSite=Strict, limited to /console and Secure when the console is reached
over HTTPS. Every request reads the session back from the store and the token behind it, so a
revoked or expired token ends its sessions at once. Every form carries a CSRF token: the
sign-in form a double-submitted one (a cookie and a field that must match), the others one
derived from the session id, which a page of another site can neither read nor compute.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from hashlib import sha256
from typing import Annotated, Final
from urllib.parse import parse_qs

from fastapi import Depends, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from interlink.admin.bodies import read_capped
from interlink.errors import AuthError, BadRequest
from interlink.store import TokenInfo

BASE: Final = "/console"
COOKIE: Final = "interlink_console"
SIGN_IN_COOKIE: Final = "interlink_console_signin"
#: The largest form the console reads: its forms hold a token and a few ids.
MAX_FORM_BYTES: Final = 16 * 1024

#: Why the sign-in page is shown, by the code its address carries (never free text).
REASONS: Final = {
    "expired": "Your session expired. Sign in again.",
    "signed-out": "You signed out.",
    "token": "The token behind your session was revoked or has expired. Sign in again.",
    "required": "Sign in to use the console.",
    "link": "This sign-in link is unknown, used already or expired. Ask for a new one, or sign "
    "in with your token.",
}


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRefused(Exception):
    """A form whose CSRF token does not match: nothing was done."""


@dataclass(frozen=True)
class Viewer:
    """Who is signed in: the token (never its secret) and the session."""

    token: TokenInfo
    session_id: str

    @property
    def csrf(self) -> str:
        return csrf_of(self.session_id)


def csrf_of(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"interlink-console-csrf", sha256).hexdigest()


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """The urlencoded form posted (the first value of each field); BadRequest past ``limit``
    bytes."""
    body = await read_capped(
        request, limit, lambda _: BadRequest(f"a console form is at most {limit} bytes")
    )
    try:
        fields = parse_qs(body.decode(), max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form is not UTF-8 urlencoded fields") from None
    return {name: values[0] for name, values in fields.items()}


def timeouts(request: Request) -> tuple[timedelta, timedelta]:
    """The Platform's idle timeout and lifetime of a session (``console:`` in its spec), read
    afresh each time: a reload applies them to the next page and sign-in."""
    settings = request.app.state.runtime.snapshot.estate.platform.spec.console
    return (
        timedelta(seconds=settings.idle_timeout),
        timedelta(seconds=settings.session_lifetime),
    )


def refused_form(exc: ValidationError, refused: str) -> BadRequest:
    """A form the API's body model refused, as one sentence: ``refused`` (what was not done),
    then the first field at fault and why."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the form"
    message = str(first["msg"]).removeprefix("Value error, ")
    return BadRequest(f"{refused}: {where}: {message}")


async def signed_in(request: Request) -> Viewer:
    """The viewer of this request, or SignInRequired."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise SignInRequired("required")
    store = request.app.state.runtime.store
    try:
        session = await run_in_threadpool(
            store.console_sessions.resume, session_id, timeouts(request)[0]
        )
    except AuthError:
        raise SignInRequired("expired") from None
    try:
        token = await run_in_threadpool(store.tokens.active, session.token_id)
    except AuthError:
        await run_in_threadpool(store.console_sessions.close, session_id)
        raise SignInRequired("token") from None
    viewer = Viewer(token, session_id)
    request.state.viewer = viewer  # an error page still shows the navigation
    return viewer


Signed = Annotated[Viewer, Depends(signed_in)]


async def checked_form(
    request: Request, viewer: Viewer, limit: int = MAX_FORM_BYTES
) -> dict[str, str]:
    """The posted form once its CSRF field matches the session's; CsrfRefused otherwise."""
    fields = await form(request, limit)
    if not _same(fields.get("csrf"), viewer.csrf):
        raise CsrfRefused
    return fields


def sign_in_nonce(request: Request) -> str:
    """The double-submit value of the sign-in form: the cookie's, or a new one."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)


def check_sign_in_nonce(request: Request, fields: dict[str, str]) -> None:
    cookie = request.cookies.get(SIGN_IN_COOKIE)
    if not cookie or not _same(fields.get("csrf"), cookie):
        raise CsrfRefused


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=BASE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def forget_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=BASE, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
