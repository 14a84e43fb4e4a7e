"""Signing in with a one-time link: ``/console/sign-in/link?code=…``, minted for a token by
``interlink console link`` or printed by ``interlink demo`` (store/console_links.py).

Opening the link shows a button; pressing it uses the code and opens a session as signing in
with the token would. The link itself changes nothing, so a chat or mail preview that fetches
it does not use it up. An unknown, used or expired code leads to the sign-in page, which says
so; it counts as a failed sign-in of the client.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from interlink.admin.console.session import BASE
from interlink.admin.console.sign_in import (
    attempt,
    failed,
    open_session,
    refuse_dataplane,
    show_sign_in,
)
from interlink.errors import AuthError
from interlink.store import Outcome, TokenInfo

router = APIRouter()

#: Where a link that cannot sign in leads: the sign-in page, saying why.
REFUSED = BASE + "/sign-in?reason=link"


@router.get("/sign-in/link", include_in_schema=False)
async def link_page(request: Request, code: str = "") -> Response:
    if not code:
        return RedirectResponse(REFUSED, status_code=303)
    return show_sign_in(request, None, failed=False, template="sign_in_link.html", code=code)


@router.post("/sign-in/link", include_in_schema=False)
async def use_link(request: Request) -> Response:
    fields = await attempt(request)
    if isinstance(fields, Response):
        return fields
    store = request.app.state.runtime.store

    def exchange() -> TokenInfo:
        token_id = store.console_links.consume(fields.get("code", ""))
        info: TokenInfo = store.tokens.active(token_id)
        return info

    try:
        token = await run_in_threadpool(exchange)
    except AuthError:
        await failed(request)
        return RedirectResponse(REFUSED, status_code=303)
    if token.role == "dataplane":
        return await refuse_dataplane(request, token)
    outcome = Outcome({"by": "link"})
    return await open_session(request, token, outcome)


def link_address(admin_url: str, code: str) -> str:
    """The address of the sign-in link for ``code`` on the admin API at ``admin_url``."""
    return f"{admin_url.rstrip('/')}{BASE}/sign-in/link?{urlencode({'code': code})}"
