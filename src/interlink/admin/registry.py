"""The schema registry on the admin API: Events, their schema versions, compatibility checks.

Everything is read from the current snapshot, so answers match the running revision. Checking a
candidate changes nothing, so it needs only the viewer role. Its work is bounded: the body is
read up to MAX_BODY bytes, JSON nesting up to MAX_NESTING levels, and the comparison itself
stops with an error past its own step and depth limits.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from interlink.admin.problems import problem
from interlink.contracts.history import (
    SchemaVersion,
    check_candidate,
    latest_active,
    schema_versions,
)
from interlink.contracts.policy import Policy
from interlink.errors import ContractError
from interlink.estate.contract_files import schema_problems
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds import Event
from interlink.estate.kinds.base import Lifecycle
from interlink.estate.kinds.contracts import CompatibilityMode
from interlink.estate.model import Estate, Loaded
from interlink.runtime.snapshot import Snapshot

#: Largest compatibility request body accepted (1 MiB); a schema is far smaller.
MAX_BODY = 1 << 20
#: Deepest JSON nesting accepted in a request body.
MAX_NESTING = 128
#: Most differences one answer lists (breaking ones first): a small body can differ in a lot.
MAX_DIFFERENCES = 1000

ModeName = Literal[
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
]


class ProblemError(BaseModel):
    pointer: str = Field(description="JSON pointer into the request or the candidate schema")
    detail: str
    code: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document (served as application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    hint: str | None = None
    errors: list[ProblemError] | None = None


def _problems(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem documents an endpoint may answer with."""
    ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {
        status: {
            "model": Problem,
            "description": text,
            "content": {"application/problem+json": ref},
        }
        for status, text in described.items()
    }


class VersionSummary(BaseModel):
    version: int
    lifecycle: Lifecycle


class EventOut(BaseModel):
    name: str
    system: str
    owner: str | None = Field(description="the owning Team (the Event's own, else its System's)")
    compatibility: CompatibilityMode
    lifecycle: Lifecycle
    sunset: date | None
    successor: str | None
    latest: int | None = Field(description="the newest active schema version")
    versions: list[VersionSummary]


class VersionOut(BaseModel):
    event: str
    version: int
    lifecycle: Lifecycle
    file: str = Field(description="the schema file, relative to the estate root")
    hash: str = Field(description="sha256 of the schema as canonical JSON")


class VersionDocument(VersionOut):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    document: dict[str, Any] | bool = Field(alias="schema", description="the JSON Schema itself")


class CompatibilityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str = Field(min_length=1, max_length=253, description="the Event's name")
    candidate: Any = Field(
        alias="schema",
        description="the candidate next version: a JSON Schema 2020-12",
        json_schema_extra={"type": ["object", "boolean"]},
    )
    mode: ModeName | None = Field(
        default=None, description="overrides the Event's compatibility mode"
    )
    policy: Literal["strict", "lenient"] = Field(
        default="strict", description="how undeclared properties are judged"
    )

    @field_validator("candidate")
    @classmethod
    def _schema_shape(cls, value: object) -> object:
        if not isinstance(value, dict | bool):
            raise ValueError("a JSON Schema is an object, or true or false")
        return value

    @field_validator("mode", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("policy", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class DifferenceOut(BaseModel):
    code: str
    pointer: str
    message: str
    breaking: bool
    severity: str
    version: int = Field(description="the version this difference is against")


class CompatibilityOut(BaseModel):
    event: str
    compatible: bool
    mode: CompatibilityMode
    policy: Literal["strict", "lenient"]
    against: list[int] = Field(description="the versions the candidate was compared with")
    differences: list[DifferenceOut] = Field(description="breaking ones first")
    truncated: bool = Field(description=f"more than {MAX_DIFFERENCES} differences were found")


router = APIRouter(prefix="/api/v1", tags=["registry"])


def _snapshot(request: Request) -> Snapshot:
    snapshot: Snapshot = request.app.state.runtime.snapshot
    return snapshot


def _relative(estate: Estate, version: SchemaVersion) -> str:
    try:
        return str(version.path.relative_to(estate.root))
    except ValueError:  # a schema outside the estate directory
        return str(version.path)


def _version_out(estate: Estate, event: Event, version: SchemaVersion) -> VersionOut:
    return VersionOut(
        event=event.name,
        version=version.version,
        lifecycle=version.lifecycle,
        file=_relative(estate, version),
        hash=version.hash,
    )


def _unknown_event(request: Request, estate: Estate, name: str) -> JSONResponse:
    names = estate.names("Event")
    hint = did_you_mean(name, names) or (
        f"known events: {', '.join(sorted(names))}" if names else "the estate has no Event"
    )
    return problem(
        404,
        f"no Event named '{name}'",
        slug="unknown-event",
        instance=request.url.path,
        hint=hint,
    )


def _event(estate: Estate, name: str) -> tuple[Loaded, Event] | None:
    item = estate.get("Event", name)
    if item is None or not isinstance(item.obj, Event):
        return None
    return item, item.obj


@router.get("/events", summary="List events")
async def list_events(request: Request) -> list[EventOut]:
    """Every Event with its owner, compatibility mode, lifecycle and schema versions."""
    estate = _snapshot(request).estate
    out = []
    for item in estate.loaded_of("Event"):
        event = item.obj
        assert isinstance(event, Event)
        versions = schema_versions(estate, item)
        latest = latest_active(versions)
        out.append(
            EventOut(
                name=event.name,
                system=event.spec.system,
                owner=estate.owner_of(event),
                compatibility=event.spec.compatibility,
                lifecycle=event.spec.lifecycle,
                sunset=event.spec.sunset,
                successor=event.spec.successor,
                latest=latest.version if latest else None,
                versions=[
                    VersionSummary(version=v.version, lifecycle=v.lifecycle) for v in versions
                ],
            )
        )
    return sorted(out, key=lambda e: e.name)


@router.get(
    "/events/{name}/versions",
    summary="List an event's schema versions",
    response_model=list[VersionOut],
    responses=_problems({404: "no such Event"}),
)
async def list_versions(request: Request, name: str) -> list[VersionOut] | JSONResponse:
    """Each schema version: its number, lifecycle, file and hash."""
    estate = _snapshot(request).estate
    found = _event(estate, name)
    if found is None:
        return _unknown_event(request, estate, name)
    item, event = found
    return [_version_out(estate, event, v) for v in schema_versions(estate, item)]


@router.get(
    "/events/{name}/versions/{version}",
    summary="Get one schema version",
    response_model=VersionDocument,
    responses=_problems({404: "no such Event or version", 422: "not a version number"}),
)
async def get_version(
    request: Request,
    name: str,
    version: Annotated[
        str,
        Path(
            pattern=r"^([1-9][0-9]{0,8}|latest)$",
            description="a version number, or 'latest' for the newest active version",
        ),
    ],
) -> VersionDocument | JSONResponse:
    """The schema document of one version, with its metadata."""
    estate = _snapshot(request).estate
    found = _event(estate, name)
    if found is None:
        return _unknown_event(request, estate, name)
    item, event = found
    versions = schema_versions(estate, item)
    chosen = (
        latest_active(versions)
        if version == "latest"
        else next((v for v in versions if v.version == int(version)), None)
    )
    if chosen is None:
        listed = ", ".join(f"{v.version} ({v.lifecycle.value})" for v in versions)
        detail = (
            f"Event '{name}' has no active schema version"
            if version == "latest"
            else f"Event '{name}' has no schema version {version}"
        )
        return problem(
            404,
            detail,
            slug="unknown-version",
            instance=request.url.path,
            hint=f"versions: {listed}",
        )
    meta = _version_out(estate, event, chosen)
    return VersionDocument(**meta.model_dump(), document=chosen.schema)


_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": CompatibilityRequest.model_json_schema()}},
    }
}


@router.post(
    "/compatibility",
    summary="Check a candidate schema",
    response_model=CompatibilityOut,
    responses=_problems(
        {
            404: "no such Event",
            413: "the body is larger than 1 MiB",
            422: "the body, or the candidate schema, is invalid",
        }
    ),
    openapi_extra=_REQUEST_BODY,
)
async def compatibility(request: Request) -> CompatibilityOut | JSONResponse:
    """Check a candidate schema as the Event's next version, changing nothing.

    The answer is 200 whether or not the candidate is compatible. It is compared with the
    latest version, or with every version when the mode is transitive.
    """
    body = await _read_body(request)
    if body is None:
        return problem(
            413,
            f"the request body is larger than {MAX_BODY} bytes",
            slug="too-large",
            instance=request.url.path,
        )
    parsed = _parse(body)
    if isinstance(parsed, str):
        return problem(422, parsed, slug="invalid-request", instance=request.url.path)
    try:
        ask = CompatibilityRequest.model_validate(parsed)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None
    snapshot = _snapshot(request)
    found = _event(snapshot.estate, ask.event)
    if found is None:
        return _unknown_event(request, snapshot.estate, ask.event)
    item, event = found
    invalid = schema_problems(ask.candidate)
    if invalid:
        return problem(
            422,
            "the candidate is not a valid JSON Schema 2020-12",
            slug="invalid-schema",
            instance=request.url.path,
            errors=[
                {
                    "pointer": "/schema" + "".join(f"/{_escape(p)}" for p in v.path),
                    "detail": v.message + (f" ({v.hint})" if v.hint else ""),
                    "code": v.code,
                }
                for v in invalid
            ],
        )
    mode = CompatibilityMode.parse(ask.mode) if ask.mode else event.spec.compatibility
    versions = schema_versions(snapshot.estate, item)
    try:
        report = await run_in_threadpool(
            check_candidate, ask.candidate, versions, mode, Policy.parse(ask.policy)
        )
    except ContractError as exc:
        return problem(
            422,
            f"cannot compare the candidate: {exc.message}",
            slug="uncomparable-schema",
            instance=request.url.path,
        )
    ordered = sorted(report.differences, key=lambda found: not found[1].breaking)
    return CompatibilityOut(
        event=event.name,
        compatible=report.compatible,
        mode=report.mode,
        policy=ask.policy,
        against=report.against,
        differences=[
            DifferenceOut(
                code=d.code,
                pointer=d.pointer,
                message=d.message,
                breaking=d.breaking,
                severity=d.severity,
                version=version,
            )
            for version, d in ordered[:MAX_DIFFERENCES]
        ],
        truncated=len(ordered) > MAX_DIFFERENCES,
    )


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it passes MAX_BODY: what was sent is never held beyond that."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def _parse(body: bytes) -> Any:
    """The JSON value, or a string saying why the body is not acceptable JSON."""
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        return f"the body is nested more than {MAX_NESTING} levels deep"
    except ValueError as exc:
        return f"the body is not JSON: {exc}"
    if _deeper_than(value, MAX_NESTING):
        return f"the body is nested more than {MAX_NESTING} levels deep"
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _escape(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")
