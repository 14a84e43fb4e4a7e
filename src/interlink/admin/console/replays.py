"""A subscription's page in the console: its delivery figures and a replay started from a form,
then followed on a page whose progress panel htmx polls every second until the replay is done.

The form runs the admin API's ``POST /api/v1/subscriptions/{name}/replays`` function (same
permission, same audit entry). How far the replay has read the log is known only in the process
that runs it (admin/operations.py); the store keeps every replay and its copies, so any node can
say how many were delivered, and a node that did not start it says so instead of showing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from interlink.admin import operations
from interlink.admin.audited import audited_route
from interlink.admin.console.access import may, require
from interlink.admin.console.render import html
from interlink.admin.console.session import BASE, Signed, checked_form, refused_form
from interlink.admin.owners import dead_letters as subscription_owners
from interlink.admin.params import Id
from interlink.errors import BadRequest, NotFound
from interlink.events.delivery.queue import ReplayRecord

router = APIRouter(include_in_schema=False)
SubscriptionName = Annotated[str, Path(max_length=200)]
ReplayId = Annotated[Id, Path()]

#: The form's fields, as the API's body names them; an empty one is one not given.
FIELDS = ("from_seq", "from_time", "to_seq")


def replay_request(fields: dict[str, str]) -> operations.ReplayRequest:
    """The replay the form asks for, as the API's body; BadRequest saying what is wrong."""
    given = {k: fields[k].strip() for k in FIELDS if fields.get(k, "").strip()}
    try:
        body = operations.ReplayRequest.model_validate(given)
    except ValidationError as exc:
        raise refused_form(exc, "the replay was not started") from None
    if body.from_seq is not None and body.to_seq is not None and body.to_seq < body.from_seq:
        raise BadRequest(
            f"the replay was not started: it cannot end at sequence {body.to_seq} before it "
            f"starts at {body.from_seq}"
        )
    return body


async def _figures(request: Request, name: str) -> dict[str, Any] | None:
    """The subscription's row of the subscriptions list, None when not delivered here."""
    for item in await operations.subscriptions(request):
        if item["name"] == name:
            return item
    return None


@router.get("/subscriptions/{name}")
async def subscription_page(request: Request, viewer: Signed, name: SubscriptionName) -> Response:
    await require(request, viewer, "subscriptions.list")
    found = await _figures(request, name)
    if found is None:
        raise NotFound(f"subscription {name} is not delivered by this node")
    estate = request.app.state.runtime.snapshot.estate
    owners = subscription_owners(estate, name, [])  # the subscription's, with no dead letter
    return html(
        request,
        "subscription.html",
        viewer,
        sub=found,
        may_replay=may(viewer, "subscriptions.replay", owners),
    )


@router.post("/subscriptions/{name}/replays", openapi_extra=audited_route("replay.start"))
async def start_replay(request: Request, viewer: Signed, name: SubscriptionName) -> Response:
    fields = await checked_form(request, viewer)
    who = await require(request, viewer, "subscriptions.replay", None)  # the path's owner
    body = replay_request(fields)
    started = await operations.start_replay(request, who, name, body)
    return RedirectResponse(f"{BASE}/replays/{started['id']}", status_code=303)


@dataclass(frozen=True)
class ReplayView:
    """What the progress panel shows: the reading (this node only) and the copies (any node)."""

    id: int
    subscription: str
    reading: dict[str, Any] | None  # operations' progress; None when another node reads
    record: ReplayRecord
    done: bool

    @property
    def elsewhere(self) -> bool:
        return self.reading is None

    @property
    def total(self) -> int:
        """Events the replay reads in all: read so far and those left up to its last one."""
        r = self.reading
        if r is None:
            return 0
        return int(r["read"]) if r["done"] else int(r["read"]) + max(r["last"] - r["position"], 0)


async def replay_view(request: Request, replay_id: int) -> ReplayView:
    try:
        reading: dict[str, Any] | None = await operations.replay_status(replay_id)
    except NotFound:
        reading = None
    mesh = getattr(request.app.state.runtime, "mesh", None)
    if mesh is None or mesh.engine is None:
        raise NotFound("event delivery is not running on this node: its replays are read there")
    record = await mesh.engine.queue.replay_record(replay_id)
    if record is None:  # the store keeps every replay, whichever node ran it
        raise NotFound(f"no replay {replay_id} is known to this node")
    read_done = record.finished_at is not None if reading is None else bool(reading["done"])
    failed = reading is not None and reading["error"] is not None
    done = failed or (read_done and record.pending == 0)
    return ReplayView(replay_id, record.subscription, reading, record, done)


async def _replay(request: Request, viewer: Signed, replay_id: int) -> ReplayView:
    await require(request, viewer, "replays.get")
    return await replay_view(request, replay_id)


@router.get("/replays/{replay_id}")
async def replay_page(request: Request, viewer: Signed, replay_id: ReplayId) -> Response:
    view = await _replay(request, viewer, replay_id)
    link = f"{BASE}/subscriptions/{quote(view.subscription)}"
    return html(request, "replay.html", viewer, replay=view, subscription_href=link)


@router.get("/replays/{replay_id}/progress")
async def replay_progress(request: Request, viewer: Signed, replay_id: ReplayId) -> Response:
    view = await _replay(request, viewer, replay_id)
    return html(request, "_replay_progress.html", viewer, replay=view)
