"""The admin API: estate, revisions, graph, tokens and the schema registry, on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from interlink import __version__
from interlink.admin import problems, responses
from interlink.admin.alerts import router as alerts_router
from interlink.admin.audit import router as audit_router
from interlink.admin.audited import audited, audited_route
from interlink.admin.auth import Grant, Granted, authorize
from interlink.admin.bodies import read_capped
from interlink.admin.catalog import router as catalog_router
from interlink.admin.connections import router as connections_router
from interlink.admin.console import create_console
from interlink.admin.dataplane import router as dataplane_router
from interlink.admin.estate_files import router as estate_files_router
from interlink.admin.flows import router as flows_router
from interlink.admin.inventory import router as inventory_router
from interlink.admin.lineage import router as lineage_router
from interlink.admin.lookup import known
from interlink.admin.monitors import router as monitors_router
from interlink.admin.nodes import router as nodes_router
from interlink.admin.operations import router as operations_router
from interlink.admin.params import Id
from interlink.admin.problems import problem
from interlink.admin.products import router as products_router
from interlink.admin.registry import router as registry_router
from interlink.admin.routes import router as routes_router
from interlink.admin.secrets import router as secrets_router
from interlink.errors import ConfigError, StoreError
from interlink.estate.durations import Duration
from interlink.estate.kinds import KINDS
from interlink.estate.references import redact
from interlink.runtime.bundle import BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, BundleTooLarge
from interlink.runtime.runtime import Runtime
from interlink.store import Revision, Role, TokenInfo, check_admin_token_name, token_lifetime
from interlink.store.audit import Outcome


class RevisionOut(BaseModel):
    id: int
    hash: str
    applied_at: str
    applied_by: str
    source: str
    summary: dict[str, Any]


class TokenOut(BaseModel):
    id: str
    name: str
    role: Role
    team: str | None = Field(description="the Team the role is limited to; null: platform-wide")
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked: bool


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = "viewer"
    name: str = Field(description="1 to 64 letters, digits, '.', '_' or '-'")
    team: str | None = Field(
        default=None, description="limit the role to this Team's objects (viewer or operator)"
    )
    expires_in: Duration | None = Field(
        default=None, description="refuse the token after this long: 12h, 30d"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_admin_token_name(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None


class TokenCreated(TokenOut):
    token: str = Field(description="shown once; only its hash is stored")


def _revision(rev: Revision) -> RevisionOut:
    return RevisionOut(
        id=rev.id,
        hash=rev.hash,
        applied_at=rev.applied_at.isoformat(),
        applied_by=rev.applied_by,
        source=rev.source,
        summary=rev.summary,
    )


def _token(info: TokenInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "role": info.role,
        "team": info.team,
        "created_at": info.created_at.isoformat(),
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
        "revoked": info.revoked,
    }


def _data_plane_refusal(control_plane: str) -> JSONResponse:
    return problem(
        409,
        f"this is a data-plane node: it runs the revisions of the control plane at "
        f"{control_plane}; apply or reload there",
        slug="data-plane-node",
    )


def _bundle_too_large(declared: int | None) -> BundleTooLarge:
    if declared is not None:
        return BundleTooLarge(
            f"the bundle is {declared} bytes, over the {MAX_BUNDLE_BYTES} a revision may be"
        )
    return BundleTooLarge(f"the bundle is over the {MAX_BUNDLE_BYTES} bytes a revision may be")


def _outcome(outcome: Outcome, answer: dict[str, Any] | JSONResponse) -> None:
    """What a reload or an apply did, for its audit entry: the revision, or why not."""
    if isinstance(answer, JSONResponse):
        body = json.loads(bytes(answer.body))
        reason = str(body.get("detail", ""))
        (outcome.refuse if answer.status_code == 409 else outcome.fail)(reason)
        return
    revision = answer["revision"]
    outcome.details.update(
        changed=answer["changed"], revision=revision["id"], hash=revision["hash"]
    )


def create_app(runtime: Runtime) -> FastAPI:  # noqa: C901 - the app's routes are closures over the runtime
    app = FastAPI(
        # Every endpoint's permission comes from one table; one without an entry is refused.
        dependencies=[Depends(authorize)],
        title="Interlink admin API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="Operate an Interlink estate. Every /api call "
        "needs 'Authorization: Bearer <token>'.",
    )
    app.state.runtime = runtime
    problems.install(app)
    responses.install(app)
    app.include_router(registry_router)
    app.include_router(operations_router)
    app.include_router(connections_router)
    app.include_router(monitors_router)
    app.include_router(inventory_router)
    app.include_router(catalog_router)
    app.include_router(routes_router)
    app.include_router(flows_router)
    app.include_router(lineage_router)
    app.include_router(nodes_router)
    app.include_router(alerts_router)
    app.include_router(products_router)
    app.include_router(audit_router)
    app.include_router(secrets_router)
    app.include_router(estate_files_router)
    # Before /api/v1/estate/revisions/{id}, which would take "current" for an id.
    app.include_router(dataplane_router)
    # The console authenticates with its own session cookie, so it is an app of its own: the
    # bearer-token dependency above does not reach into a mounted app.
    app.mount("/console", create_console(runtime))

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=None,
        responses=responses.problems(
            {503: "not ready: a subscription is broken, or the node is behind"}
        ),
    )
    async def readyz() -> dict[str, Any] | JSONResponse:
        """Readiness: an estate revision is loaded, no subscription is broken (its consumer
        missing on the bus) and the node is not behind the store's current revision; lists what
        is degraded. A store that does not answer is degraded, not unready: the gateway serves
        from the revision it holds, and every node shares the store, so a load balancer that
        took them out would turn a store outage into a gateway outage."""
        degraded = dict(runtime.degraded)  # e.g. rate limits counted per worker
        try:
            await run_in_threadpool(runtime.store.ping)
        except StoreError as exc:
            degraded["store"] = exc.message
        engine = runtime.mesh.engine if runtime.mesh is not None else None
        if engine is not None and engine.broken:
            name, why = sorted(engine.broken.items())[0]
            return problem(
                503,
                f"subscription {name} cannot be delivered: {why}",
                slug="not-ready",
                headers={"Retry-After": "5"},
            )
        rev = runtime.snapshot.revision
        behind = runtime.behind_for()
        # A data-plane node behind its control plane still serves its last good revision, and
        # says why in its report: taken out by a load balancer, every node could be at once.
        data_plane = bool(runtime.settings.control_plane)
        if behind is not None and behind > runtime.follow_grace and not data_plane:
            return problem(
                503,
                f"this node runs revision {rev.id if rev else '-'}, older than the store's "
                f"current one, for {behind:.0f} s",
                slug="not-ready",
                headers={"Retry-After": "5"},
            )
        ready: dict[str, Any] = {"status": "ready", "revision": rev.id if rev else None}
        if data_plane:  # ready whether it reaches its control plane or not
            ready["control_plane"] = (
                "reachable" if runtime.control_plane_reachable else "unreachable"
            )
        if degraded:  # still serving, with less
            ready["degraded"] = degraded
        return ready

    @app.get("/api/v1/estate", tags=["estate"], responses=responses.problems({404: "no such kind"}))
    async def estate(kind: str | None = None) -> dict[str, Any]:
        """The current revision and its objects (references shown, never resolved)."""
        snap = runtime.snapshot
        if kind is not None:
            known("kind", kind, KINDS)
        objects = []
        for item in snap.estate:
            if kind and kind != item.obj.KIND:
                continue
            data = redact(item.obj.model_dump(mode="json", by_alias=True, exclude_none=True))
            loc = item.location()
            assert isinstance(data, dict)
            data["source"] = {"file": str(loc.file.relative_to(snap.estate.root)), "line": loc.line}
            objects.append(data)
        return {
            "revision": _revision(snap.revision).model_dump() if snap.revision else None,
            "objects": objects,
            "warnings": [f.to_json(snap.estate.root) for f in snap.findings],
        }

    @app.get("/api/v1/estate/revisions", tags=["estate"])
    async def revisions(
        limit: Annotated[int, Query(ge=1, le=500)] = 50, before: Id | None = None
    ) -> list[RevisionOut]:
        """Revisions, newest first; page with ?before=<id>."""
        found = await run_in_threadpool(runtime.store.revisions.list, limit, before)
        return [_revision(r) for r in found]

    @app.get(
        "/api/v1/estate/revisions/{revision_id}",
        tags=["estate"],
        responses=responses.problems({404: "no such revision"}),
    )
    async def revision(revision_id: Id) -> RevisionOut:
        return _revision(await run_in_threadpool(runtime.store.revisions.get, revision_id))

    @app.post(
        "/api/v1/estate/reload",
        tags=["estate"],
        response_model=None,
        responses=responses.problems(
            {
                409: "a data-plane node, or the directory holds an older revision",
                422: "the estate has errors; the running revision is unchanged",
            }
        ),
        openapi_extra=audited_route("estate.reload"),
    )
    async def reload(who: Granted, request: Request) -> dict[str, Any] | JSONResponse:
        """Read the estate directory again; a revision with errors is rejected, not applied."""
        async with audited(request, who, "estate.reload", "estate", source="api") as outcome:
            answer = await _reload(who)
            _outcome(outcome, answer)
        return answer

    async def _reload(who: Grant) -> dict[str, Any] | JSONResponse:
        if runtime.settings.control_plane:
            return _data_plane_refusal(runtime.settings.control_plane)
        result = await runtime.reload("api", applied_by=f"token:{who.token_name}")
        if result.refused is not None:
            return problem(409, result.refused, slug="older-revision")
        if not result.ok:
            root = runtime.settings.estate_dir.resolve()
            return problem(
                422,
                "the estate has errors; the running revision is unchanged",
                slug="invalid-estate",
                errors=[f.to_json(root) for f in result.findings if f.severity == "error"],
            )
        assert result.revision is not None
        return {"changed": result.changed, "revision": _revision(result.revision).model_dump()}

    @app.post(
        "/api/v1/estate/revisions",
        tags=["estate"],
        status_code=201,
        response_model=None,
        responses=responses.problems(
            {
                409: "a data-plane node: apply on its control plane",
                413: "the bundle is larger than a revision may be",
                422: "not a bundle, or the estate has errors; the running revision is unchanged",
            }
        ),
        openapi_extra=audited_route(
            "estate.apply",
            requestBody={
                "required": True,
                "description": "the estate bundle `interlink apply` builds",
                "content": {BUNDLE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            },
        ),
    )
    async def apply(who: Granted, request: Request) -> dict[str, Any] | JSONResponse:
        """Check the estate in the bundle, record it as the current revision of every node and
        run it. A new revision even when its content was seen before: this is how to roll back."""
        async with audited(request, who, "estate.apply", "estate") as outcome:
            answer = await _apply(who, request)
            _outcome(outcome, answer)
        return answer

    async def _apply(who: Grant, request: Request) -> dict[str, Any] | JSONResponse:
        if runtime.settings.control_plane:
            return _data_plane_refusal(runtime.settings.control_plane)
        bundle = await read_capped(request, MAX_BUNDLE_BYTES, _bundle_too_large)
        result = await runtime.apply(bundle, applied_by=f"token:{who.token_name}")
        if not result.ok:
            return problem(
                422,
                "the estate has errors; the running revision is unchanged",
                slug="invalid-estate",
                errors=[f.to_json(result.root) for f in result.findings if f.severity == "error"],
            )
        assert result.revision is not None
        return {"changed": result.changed, "revision": _revision(result.revision).model_dump()}

    @app.get(
        "/api/v1/graph",
        tags=["estate"],
        response_model=None,
        responses={
            200: {
                "description": "the graph as JSON, or as Mermaid or DOT text",
                "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "text/plain": {"schema": {"type": "string"}},
                    "text/vnd.graphviz": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def graph(
        format: Literal["json", "mermaid", "dot"] = "json",
    ) -> dict[str, object] | Response:
        """The estate graph: nodes and typed edges."""
        snapshot = runtime.snapshot
        g = await run_in_threadpool(lambda: snapshot.graph)  # built on first use
        if format == "mermaid":
            return PlainTextResponse(g.to_mermaid())
        if format == "dot":
            return PlainTextResponse(g.to_dot(), media_type="text/vnd.graphviz")
        return g.to_json()

    @app.get("/api/v1/tokens", tags=["tokens"])
    async def tokens() -> list[TokenOut]:
        found = await run_in_threadpool(runtime.store.tokens.list)
        return [TokenOut(**_token(t)) for t in found]

    @app.post(
        "/api/v1/tokens",
        tags=["tokens"],
        status_code=201,
        responses=responses.problems({404: "no such team"}),
        openapi_extra=audited_route("token.create"),
    )
    async def create_token(who: Granted, request: Request, body: TokenRequest) -> TokenCreated:
        """Issue a token, platform-wide or for one Team, expiring after ``expires_in`` when
        given; the plaintext is in this answer only."""
        details = {"role": body.role, "name": body.name, "team": body.team}
        async with audited(request, who, "token.create", "token", **details) as outcome:
            if body.team is not None:
                known("Team", body.team, runtime.snapshot.estate.names("Team"))
            expires_in = None if body.expires_in is None else token_lifetime(body.expires_in)
            plaintext, info = await run_in_threadpool(
                lambda: runtime.store.tokens.create(
                    body.role, body.name, team=body.team, expires_in=expires_in
                )
            )
            outcome.target = f"token/{info.id}"
        return TokenCreated(token=plaintext, **_token(info))

    @app.delete(
        "/api/v1/tokens/{token_id}",
        tags=["tokens"],
        status_code=204,
        responses=responses.problems(
            {404: "no such token", 409: "the last active platform admin token"}
        ),
        openapi_extra=audited_route("token.revoke"),
    )
    async def revoke_token(who: Granted, request: Request, token_id: str) -> Response:
        """Revoke a token; 409 when it is the last active platform admin."""
        async with audited(request, who, "token.revoke", f"token/{token_id}"):
            await run_in_threadpool(runtime.store.tokens.revoke, token_id)
        return Response(status_code=204)

    @app.middleware("http")
    async def no_store(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
