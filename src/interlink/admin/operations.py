"""Event operations on the admin API: subscriptions, dead letters, replay, the log, metrics.

Reads need the viewer role; anything that sends events again or changes a subscription needs
operator, of the subscription's owning Team for a team-scoped token (permissions.py). A replay
runs in the background (it can cover millions of events); its progress is polled at
``/api/v1/replays/{id}``, which is what the CLI's progress bar shows.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interlink.admin.audited import audited, audited_route
from interlink.admin.auth import Granted
from interlink.admin.lookup import known
from interlink.errors import ConfigError, NotFound
from interlink.estate.subscriptions import subscriptions as estate_subscriptions
from interlink.events.delivery.engine import DeliveryEngine
from interlink.events.delivery.notify_channels import ChannelNotifier
from interlink.events.delivery.queue import Delivery, JobKey
from interlink.events.delivery.replay import ReplayProgress
from interlink.events.mesh import EventMesh
from interlink.observe.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

router = APIRouter()
log = logging.getLogger("interlink.admin")


def _mesh(request: Request) -> EventMesh:
    mesh: EventMesh | None = getattr(request.app.state.runtime, "mesh", None)
    if mesh is None:
        raise NotFound("the event mesh is not running in this process")
    return mesh


def _engine(request: Request) -> DeliveryEngine:
    engine = _mesh(request).engine
    if engine is None:
        raise NotFound("event delivery is not running in this process")
    return engine


def _subscription(request: Request, name: str) -> None:
    """``NotFound`` with the nearest name unless the estate or the engine knows ``name``."""
    mesh = _mesh(request)
    names = {s.name for s in estate_subscriptions(request.app.state.runtime.snapshot.estate)}
    if mesh.engine is not None:
        names.update(mesh.engine.plans)
    known("subscription", name, names)


def _body(raw: bytes) -> Any:
    """The event as JSON when it is, else base64 (bodies are structured CloudEvents)."""
    try:
        return json.loads(raw)
    except ValueError:
        return {"base64": base64.b64encode(raw).decode()}


def _delivery(row: Delivery, *, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "subscription": row.key.subscription,
        "seq": row.key.seq,
        "replay": row.key.replay or None,
        "event_id": row.event_id,
        "ordering_key": row.ordering_key,
        "state": row.state,
        "attempts": row.attempt,
        "published_at": row.published_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "last_status": row.last_status,
        "last_error": row.last_error,
    }
    if full:
        out["next_at"] = row.next_at.isoformat()
        out["created_at"] = row.created_at.isoformat()
        out["last_response"] = row.last_response
        out["event"] = _body(row.body)
    return out


@router.get("/api/v1/subscriptions", tags=["events"])
async def subscriptions(request: Request) -> list[dict[str, Any]]:
    """Every subscription: its state and its delivery figures."""
    engine = _engine(request)
    await engine.refresh_stats()
    found = []
    for status in engine.status():
        item: dict[str, Any] = {
            "name": status.name,
            "state": status.state,
            "target": status.target,
            "reason": status.reason,
            "in_flight": status.in_flight,
        }
        if status.name in engine.plans and status.state in ("running", "disabled"):
            metrics = engine.metrics_of(status.name)
            item["metrics"] = {**metrics.__dict__, "lag": await engine.lag(status.name)}
        found.append(item)
    return found


@router.post(
    "/api/v1/subscriptions/{name}/enable",
    tags=["events"],
    openapi_extra=audited_route("subscription.enable"),
)
async def enable(request: Request, who: Granted, name: str) -> dict[str, Any]:
    """Deliver again to a subscription its receiver switched off (HTTP 410)."""
    async with audited(request, who, "subscription.enable", f"subscription/{name}") as outcome:
        _subscription(request, name)
        changed = await _engine(request).enable(name)
        outcome.details["changed"] = changed
    return {"subscription": name, "enabled": True, "changed": changed}


def _utc(value: datetime | None) -> datetime | None:
    """Times without an offset are UTC, like every time the platform stores."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_seq: int | None = Field(default=None, ge=1, description="first sequence to replay")
    from_time: datetime | None = Field(default=None, description="replay events stored since")
    to_seq: int | None = Field(default=None, ge=1)
    to_time: datetime | None = None

    _times_in_utc = field_validator("from_time", "to_time")(_utc)

    @model_validator(mode="after")
    def _one_start(self) -> ReplayRequest:
        if (self.from_seq is None) == (self.from_time is None):
            raise ValueError("give exactly one of from_seq and from_time")
        if self.to_seq is not None and self.to_time is not None:
            raise ValueError("give at most one of to_seq and to_time")
        return self


_KEEP_REPLAYS: Final = 1000
_replays: dict[int, ReplayProgress] = {}
_replay_errors: dict[int, str] = {}
_replay_tasks: set[asyncio.Task[None]] = set()


def _progress(progress: ReplayProgress) -> dict[str, Any]:
    error = _replay_errors.get(progress.replay)
    done = progress.done or error is not None
    return {**progress.__dict__, "id": progress.replay, "done": done, "error": error}


def _keep(progress: ReplayProgress) -> None:
    _replays[progress.replay] = progress
    while len(_replays) > _KEEP_REPLAYS:  # forget the oldest finished replays
        oldest = next(iter(_replays))
        _replays.pop(oldest)
        _replay_errors.pop(oldest, None)


@router.post(
    "/api/v1/subscriptions/{name}/replays",
    tags=["events"],
    status_code=202,
    openapi_extra=audited_route("replay.start"),
)
async def start_replay(
    request: Request, who: Granted, name: str, body: ReplayRequest
) -> dict[str, Any]:
    """Deliver a subscription's past events again; poll the returned id for progress."""
    span = body.model_dump(mode="json", exclude_none=True)
    async with audited(request, who, "replay.start", f"subscription/{name}", **span) as outcome:
        started = await _start_replay(request, name, body)
        outcome.details["replay"] = started["id"]
    return started


async def _start_replay(request: Request, name: str, body: ReplayRequest) -> dict[str, Any]:
    engine = _engine(request)
    _subscription(request, name)
    start: int | datetime = body.from_seq if body.from_seq is not None else body.from_time  # type: ignore[assignment]
    end = body.to_seq if body.to_seq is not None else body.to_time
    first: asyncio.Future[ReplayProgress] = asyncio.get_running_loop().create_future()

    def progress(p: ReplayProgress) -> None:
        _keep(p)
        if not first.done():
            first.set_result(p)

    async def run() -> None:
        try:
            result = await engine.replay(name, start, end, progress)
        except Exception as exc:
            if not first.done():
                first.set_exception(exc)
                return
            # Under way already: the poller learns it stopped, and why.
            replay_id = first.result().replay
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            _replay_errors[replay_id] = message
            log.error("replay %d of %s stopped: %s", replay_id, name, message)
            return
        _keep(result)
        if not first.done():
            first.set_result(result)

    task = asyncio.create_task(run())
    _replay_tasks.add(task)
    task.add_done_callback(_replay_tasks.discard)
    return _progress(await first)


@router.get("/api/v1/replays/{replay_id}", tags=["events"])
async def replay_status(replay_id: int) -> dict[str, Any]:
    found = _replays.get(replay_id)
    if found is None:
        raise NotFound(f"replay {replay_id} not found in this process")
    return _progress(found)


@router.get("/api/v1/dlq", tags=["events"])
async def dead_letters(
    request: Request,
    subscription: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Dead-lettered deliveries, a page at a time (pass ``next_cursor`` back as ``cursor``)."""
    if cursor is not None:
        try:
            JobKey.parse(cursor)
        except NotFound:
            raise ConfigError(f"cursor {cursor!r} is not one this API returned") from None
    if subscription is not None:
        _subscription(request, subscription)
    page = await _mesh(request).queue.list_dead(subscription, limit, cursor)
    return {
        "items": [_delivery(d, full=False) for d in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/api/v1/dlq/{delivery_id}", tags=["events"])
async def dead_letter(request: Request, delivery_id: str) -> dict[str, Any]:
    """One delivery with its event and the receiver's last answer."""
    return _delivery(await _mesh(request).queue.get(delivery_id), full=True)


class DeadLetterAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(default_factory=list, max_length=10_000)
    subscription: str | None = Field(default=None, description="every dead letter of it")


def _dead_letters(body: DeadLetterAction) -> str:
    """An audit entry's target: the subscription, or the dead letters by id."""
    if body.subscription is not None:
        return f"subscription/{body.subscription}"
    more = f",+{len(body.ids) - 20}" if len(body.ids) > 20 else ""
    return "dlq/" + ",".join(body.ids[:20]) + more


@router.post("/api/v1/dlq/retry", tags=["events"], openapi_extra=audited_route("dlq.retry"))
async def retry(request: Request, who: Granted, body: DeadLetterAction) -> dict[str, int]:
    """Send dead letters again from their first attempt: listed ids, or a whole subscription."""
    async with audited(request, who, "dlq.retry", _dead_letters(body)) as outcome:
        done = await _retry(request, body)
        outcome.details.update(done)
    return done


async def _retry(request: Request, body: DeadLetterAction) -> dict[str, int]:
    engine = _engine(request)
    if body.subscription is not None and body.ids:
        raise ConfigError("give either ids or a subscription, not both")
    if body.subscription is not None:
        _subscription(request, body.subscription)
        if body.subscription not in engine.plans:
            raise NotFound(f"subscription {body.subscription!r} is not delivered by this engine")
        return {"retried": await engine.retry_all(body.subscription)}
    if not body.ids:
        raise ConfigError("name the dead letters to retry: ids, or a subscription")
    await _all_dead(request, body.ids)
    return {"retried": await engine.retry(body.ids)}


async def _all_dead(request: Request, ids: list[str]) -> None:
    """``NotFound`` naming the first id that is not a dead letter, before anything changes."""
    queue = _mesh(request).queue
    for id in dict.fromkeys(ids):
        row = await queue.get(id)
        if row.state != "dead":
            raise NotFound(f"delivery {id} is not in the dead-letter queue (it is {row.state})")


@router.post("/api/v1/dlq/discard", tags=["events"], openapi_extra=audited_route("dlq.discard"))
async def discard(request: Request, who: Granted, body: DeadLetterAction) -> dict[str, int]:
    """Delete dead letters for good."""
    async with audited(request, who, "dlq.discard", _dead_letters(body)) as outcome:
        if not body.ids or body.subscription is not None:
            raise ConfigError("name the dead letters to discard by id")
        engine = _engine(request)
        await _all_dead(request, body.ids)
        done = {"discarded": await engine.discard(body.ids)}
        outcome.details.update(done)
    return done


@router.get("/api/v1/events/{name}/log", tags=["events"])
async def event_log(
    request: Request,
    name: str,
    after: Annotated[int, Query(ge=0)] = 0,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Stored events of one type after a sequence (or since a time), oldest first."""
    mesh = _mesh(request)
    mesh.registry.event_type(name)
    since = _utc(since)
    start: int | datetime = since if since is not None else after + 1
    messages = await mesh.bus.read(name, start, limit)
    info = await mesh.bus.info(name)
    return {
        "type": name,
        "last_seq": info.last_seq,
        "events": [
            {"seq": m.seq, "stored_at": m.stored_at.isoformat(), "event": _body(m.body)}
            for m in messages
        ],
    }


@router.get("/api/v1/notices", tags=["events"])
async def notices(
    request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    """Recent notices to owning Teams (a subscription disabled by 410…), newest first,
    with how each of the Team's channels was told."""
    mesh = _mesh(request)
    notifier = mesh.engine.notifier if mesh.engine is not None else None
    items: list[dict[str, Any]] = []
    if isinstance(notifier, ChannelNotifier):
        items = [r.as_dict() for r in reversed(notifier.records())]
    elif mesh.engine is not None:
        for n in reversed(mesh.engine.notices()):
            items.append(
                {
                    "kind": n.kind,
                    "subject": n.subject,
                    "team": n.team,
                    "summary": n.summary,
                    "at": n.at.isoformat(),
                    "details": dict(n.details),
                    "channels": [],
                }
            )
    return {"items": items[:limit]}


@router.get("/metrics", tags=["health"], response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics of every component in this process, and of the gateway workers.
    Not served (404) while the Platform's ``telemetry.metrics`` is false: nothing is read,
    refreshed or asked of the workers then."""
    runtime = request.app.state.runtime
    if not runtime.snapshot.estate.platform.spec.telemetry.metrics:
        raise NotFound("metrics are turned off: the Platform's spec.telemetry.metrics is false")
    mesh: EventMesh | None = getattr(runtime, "mesh", None)
    if mesh is not None and mesh.engine is not None:
        await mesh.engine.refresh_stats()
    text = await runtime.metrics.exposition()
    return PlainTextResponse(text, media_type=METRICS_CONTENT_TYPE)
