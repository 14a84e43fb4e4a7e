"""RFC 9457 problem details for every error the admin API returns."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from interlink.admin.auth import authorize
from interlink.errors import AuthError, InterlinkError
from interlink.problems import problem_document


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    slug: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem_document(status, detail, title=title, slug=slug, instance=instance, **extra)
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        try:  # a body FastAPI could not read: the token is checked first all the same
            await _authenticate(request)
        except InterlinkError as refused:
            return _interlink_problem(request, refused)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem(
            exc.status_code, detail, instance=request.url.path, headers=dict(exc.headers or {})
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # A body that is not JSON is refused before any dependency runs: the caller's token
        # is checked first all the same, so who may not call learns nothing of the endpoint.
        try:
            await _authenticate(request)
        except InterlinkError as refused:
            return _interlink_problem(request, refused)
        errors = [
            {"pointer": "/" + "/".join(str(p) for p in e.get("loc", ())), "detail": e.get("msg")}
            for e in exc.errors()
        ]
        return problem(
            422,
            "the request is invalid",
            slug="invalid-request",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(InterlinkError)
    async def interlink_error(request: Request, exc: InterlinkError) -> JSONResponse:
        return _interlink_problem(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The server logs the exception with its traceback; the caller gets no detail of it.
        return problem(500, "an unexpected error; it is logged", instance=request.url.path)


def _interlink_problem(request: Request, exc: InterlinkError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if type(exc) is AuthError else None
    if exc.retry_after is not None:
        headers = {**(headers or {}), "Retry-After": str(int(exc.retry_after))}
    extra: dict[str, Any] = {}
    violations = getattr(exc, "violations", None)
    if violations:  # which parts of the document broke which rule
        extra["violations"] = [{"pointer": v.pointer, "message": v.message} for v in violations]
    return problem(
        exc.status,
        exc.message,
        title=exc.title,
        instance=request.url.path,
        headers=headers,
        **extra,
    )


async def _authenticate(request: Request) -> None:
    """The token check every route runs (auth.py), before a request's own errors are told;
    raises ``AuthError`` or ``Forbidden``."""
    if isinstance(request.scope.get("route"), APIRoute):
        await authorize(request)
