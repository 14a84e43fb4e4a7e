"""What the admin API's OpenAPI document says each operation answers.

Errors are RFC 9457 problem documents served as ``application/problem+json``. The answers every
operation of a kind may give are declared here, for every route at once, new ones included:
401, 403 and 503 (the store checks the token) on those that need a token, 422 on those that
take parameters or a body, 400 on those whose body FastAPI reads as JSON, 500 on all. An
endpoint declares its own further answers (404 for a name that names nothing, 409, 413, 204…)
with ``problems``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field
from starlette.routing import BaseRoute

from interlink.admin.params import MAX_INT
from interlink.admin.permissions import BY_ROUTE
from interlink.problems import CONTENT_TYPE as PROBLEM_MEDIA_TYPE

_PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}

#: The answers common to every operation that needs them; see the module's docstring.
COMMON: Final = {
    400: "the body cannot be read (not UTF-8 JSON text)",
    401: "no token, or one unknown or revoked",
    403: "the token's role does not allow this",
    422: "a parameter or the body is invalid: `errors` lists each with a JSON pointer",
    500: "an unexpected failure (logged)",
    503: "the store does not answer; try again after Retry-After",
}


class Problem(BaseModel):
    """An RFC 9457 problem document (served as application/problem+json); some carry more
    members, such as ``hint`` or ``violations``."""

    type: str = Field(description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="the request's path")
    errors: list[dict[str, Any]] | None = Field(
        default=None,
        description="what is wrong, one entry each; a request's with the JSON pointer of the "
        "parameter or body member (``/query/before``)",
    )


def problems(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem documents an endpoint may answer with, by status."""
    return {status: _problem(text) for status, text in described.items()}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


def needs_token(route: APIRoute) -> bool:
    """Whether the permission matrix asks a token of any of the route's methods."""
    return any(
        (found := BY_ROUTE.get((method, route.path))) is None or found.role is not None
        for method in route.methods or ()
    )


def _common(route: APIRoute) -> dict[int, str]:
    statuses = [500]
    if needs_token(route):
        statuses += [401, 403, 503]
    takes = get_flat_params(route.dependant) or route.body_field is not None
    if takes or (route.openapi_extra and "requestBody" in route.openapi_extra):
        statuses.append(422)
    if route.body_field is not None:
        statuses.append(400)
    return {status: COMMON[status] for status in statuses}


def _exact_bounds(node: Any) -> None:
    """Put back the 64-bit bounds FastAPI's OpenAPI model turns into floats in component
    schemas: ``float(MAX_INT)`` is 2**63, one past what the API accepts."""
    if isinstance(node, list):
        for item in node:
            _exact_bounds(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("maximum", "minimum") and isinstance(value, float) and value.is_integer():
                node[key] = MAX_INT if value == float(MAX_INT) else int(value)
            else:
                _exact_bounds(value)


def _complete(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    _exact_bounds(document)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, never sent
        schemas.pop(name, None)
    for context in iter_route_contexts(routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in context.methods or ():
            operation = document["paths"].get(context.path_format, {}).get(method.lower())
            if operation is None:
                continue
            answers = operation.setdefault("responses", {})
            for status, text in _common(route).items():
                declared = answers.get(str(status))
                if declared is None or "HTTPValidationError" in str(declared):
                    answers[str(status)] = _problem(text)


def install(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document declare the common answers of each operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _complete(document, app.routes)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
