"""The nodes on this store: what each runs, the health of its parts and whether it is up."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from interlink.runtime.nodes import LIVE_WITHIN

router = APIRouter()


@router.get("/api/v1/nodes", tags=["nodes"])
async def nodes(request: Request) -> dict[str, Any]:
    """Every node that wrote its heartbeat lately, the current revision, and which nodes run
    it. A node silent for a few heartbeats is shown as down."""
    runtime = request.app.state.runtime
    store = runtime.store

    def read() -> tuple[list[Any], tuple[int, str] | None]:
        return store.nodes.list(), store.revisions.head()

    found, head = await run_in_threadpool(read)
    now = store.db.now()
    return {
        "current_revision": None if head is None else {"id": head[0], "hash": head[1]},
        "nodes": [
            {
                "id": node.id,
                "self": node.id == runtime.node_id,
                "admin_address": node.admin_address,
                "gateway_address": node.gateway_address,
                "revision": None
                if node.revision_id is None
                else {"id": node.revision_id, "hash": node.revision_hash},
                "started_at": node.started_at.isoformat(),
                "heartbeat_at": node.heartbeat_at.isoformat(),
                "live": node.live(now, LIVE_WITHIN),
                "health": node.health,
            }
            for node in found
        ],
    }
