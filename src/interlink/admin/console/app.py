"""The console's application, mounted by the admin API at /console: sign-in, sign-out, the
pages, the vendored scripts and styles, and the HTML pages its errors become (never a stack
trace)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from interlink.admin.console import (
    actions,
    consumers,
    edit,
    estate_map,
    flow_view,
    lineage,
    pages,
    product_sample,
    products,
    replays,
    revisions,
    route_pages,
)
from interlink.admin.console.render import HERE, html
from interlink.admin.console.session import (
    BASE,
    COOKIE,
    REASONS,
    CsrfRefused,
    SignInRequired,
    checked_form,
    forget_cookie,
    signed_in,
)
from interlink.admin.console.sign_in import (
    attempt,
    failed,
    open_session,
    refuse_dataplane,
    show_sign_in,
)
from interlink.admin.console.sign_in_link import router as link_router
from interlink.errors import AuthError, InterlinkError
from interlink.runtime.runtime import Runtime
from interlink.store import Outcome

log = logging.getLogger("interlink.admin")

#: Sent with every console answer: no framing, no foreign scripts, no referrer.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


#: An error page's heading by status: a person's words, not the error class's title.
HEADINGS = {400: "Bad request", 403: "Not allowed", 404: "Not found"}


def create_console(runtime: Runtime) -> FastAPI:
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.state.runtime = runtime
    console.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    console.include_router(pages.router)
    console.include_router(actions.router)
    console.include_router(products.router)
    console.include_router(product_sample.router)
    console.include_router(lineage.router)
    console.include_router(estate_map.router)
    console.include_router(route_pages.router)
    console.include_router(replays.router)
    console.include_router(flow_view.router)
    console.include_router(edit.router)
    console.include_router(consumers.router)
    console.include_router(revisions.router)
    _sign_in_routes(console)
    _errors(console)

    @console.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return console


def _sign_in_routes(console: FastAPI) -> None:
    console.include_router(link_router)  # /sign-in/link

    @console.get("/sign-in", include_in_schema=False)
    async def sign_in_page(request: Request, reason: str = "") -> Response:
        return show_sign_in(request, REASONS.get(reason), failed=False)

    @console.post("/sign-in", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        fields = await attempt(request)
        if isinstance(fields, Response):
            return fields
        store = request.app.state.runtime.store
        try:
            token = await run_in_threadpool(store.tokens.check, fields.get("token", "").strip())
        except AuthError as exc:
            # Only a known token's sign-in is recorded: anyone could fill the log with unknown
            # ones. Every failure counts towards the client's limit.
            await failed(request)
            return show_sign_in(request, exc.message, failed=True, status=401)
        if token.role == "dataplane":
            return await refuse_dataplane(request, token)
        return await open_session(request, token, Outcome({}))

    @console.post("/sign-out", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        viewer = await signed_in(request)
        await checked_form(request, viewer)
        store = request.app.state.runtime.store
        await run_in_threadpool(store.console_sessions.close, viewer.session_id)
        response = RedirectResponse(BASE + "/sign-in?reason=signed-out", status_code=303)
        forget_cookie(request, response, COOKIE)
        return response


def _errors(console: FastAPI) -> None:
    @console.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        target = f"{BASE}/sign-in?reason={exc.reason}"
        if request.headers.get("hx-request"):  # htmx follows this header, not a redirect
            return Response(status_code=200, headers={"HX-Redirect": target})
        response = RedirectResponse(target, status_code=303)
        forget_cookie(request, response, COOKIE)
        return response

    @console.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        message = (
            "The form was refused: its security token does not match your session, so nothing "
            "was changed. Reload the page and try again."
        )
        return _error(request, 403, "Form refused", message)

    @console.exception_handler(InterlinkError)
    async def interlink_error(request: Request, exc: InterlinkError) -> Response:
        heading = HEADINGS.get(exc.status, exc.title)
        return _error(request, exc.status, heading, exc.message)

    @console.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "the request"
        return _error(request, 400, "Bad request", f"{where}: {first.get('msg', 'invalid')}")

    @console.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = "No such page in the console." if exc.status_code == 404 else str(exc.detail)
        return _error(
            request, exc.status_code, "Not found" if exc.status_code == 404 else "Error", message
        )

    @console.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("console: %s %s failed", request.method, request.url.path)
        return _error(
            request,
            500,
            "Internal error",
            "The console could not answer; the error is in the server's log.",
        )


def _error(request: Request, status: int, heading: str, message: str) -> Response:
    viewer = getattr(request.state, "viewer", None)
    page = html(request, "error.html", viewer, status=status, heading=heading, message=message)
    if request.headers.get("hx-request"):  # the whole page, not the part htmx asked for
        page.headers.update({"HX-Retarget": "body", "HX-Reswap": "innerHTML"})
    return page
