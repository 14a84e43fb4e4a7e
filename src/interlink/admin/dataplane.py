"""What data-plane nodes call on the control plane: the current revision (waiting for a newer
one), a revision's estate bundle by hash, and the node's status report. Only tokens with the
``dataplane`` role are admitted, and that role is admitted nowhere else."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from interlink.errors import NotFound
from interlink.runtime.bundle import BUNDLE_MEDIA_TYPE
from interlink.runtime.runtime import Runtime

MAX_WAIT: Final = 60.0  # seconds a request for a newer revision is held at most

router = APIRouter()


class RevisionRef(BaseModel):
    id: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class NodeStatus(BaseModel):
    """What a data-plane node says about itself."""

    admin_address: str = Field(max_length=300)
    gateway_address: str = Field(max_length=300)
    revision: RevisionRef | None
    started_at: AwareDatetime
    health: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=500)]] = (
        Field(max_length=20)
    )


@router.get("/api/v1/estate/revisions/current", tags=["data plane"], response_model=None)
async def current_revision(
    request: Request,
    after: Annotated[int, Query(ge=0, description="the revision the caller runs")] = 0,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT, description="seconds to wait for a newer revision")
    ] = 0,
) -> dict[str, Any] | Response:
    """The current revision, with the object hashes a node diffs against, once it is newer than
    ``after``: at once if it is, else when one is recorded within ``wait`` seconds; 204 when
    none is. Its files are at ``bundle``."""
    runtime: Runtime = request.app.state.runtime
    head = await runtime.wait_for_revision(after, wait)
    if head is None:
        return Response(status_code=204)
    rev = await run_in_threadpool(runtime.store.revisions.get, head[0])
    return {
        "id": rev.id,
        "hash": rev.hash,
        "applied_at": rev.applied_at.isoformat(),
        "applied_by": rev.applied_by,
        "source": rev.source,
        "summary": rev.summary,
        "object_hashes": rev.object_hashes,
        "bundle": f"/api/v1/estate/bundles/{rev.hash}",
    }


@router.get(
    "/api/v1/estate/bundles/{content_hash}",
    tags=["data plane"],
    response_class=Response,
    responses={200: {"content": {BUNDLE_MEDIA_TYPE: {}}}},
)
async def bundle(
    request: Request,
    content_hash: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
) -> Response:
    """A revision's estate files, as the bundle `interlink apply` uploads."""
    runtime: Runtime = request.app.state.runtime
    found = await run_in_threadpool(runtime.store.revisions.bundle, content_hash)
    if found is None:
        raise NotFound(f"no estate content is stored for {content_hash}")
    return Response(found, media_type=BUNDLE_MEDIA_TYPE, headers={"ETag": f'"{content_hash}"'})


@router.put("/api/v1/nodes/{node_id}", tags=["data plane"], status_code=204)
async def report_node(
    request: Request,
    node_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,200}$")],
    status: NodeStatus,
) -> Response:
    """Record a data-plane node's status as its row in `GET /api/v1/nodes`, with the control
    plane's time as its heartbeat."""
    runtime: Runtime = request.app.state.runtime

    def write() -> None:
        runtime.store.nodes.beat(
            node_id,
            admin_address=status.admin_address,
            gateway_address=status.gateway_address,
            revision=None
            if status.revision is None
            else (status.revision.id, status.revision.hash),
            started_at=status.started_at,
            health=status.health,
        )

    await run_in_threadpool(write)
    return Response(status_code=204)
