"""Which Team owns what an admin API call acts on: the targets of team-scoped actions.

Each resolver reads the target from the request (a path parameter, or the JSON body) and answers
with every object the call would touch, each with its owning Team as the estate defines it
(``Estate.owner_of``: the object's own owner, else its System's). A subscription implied by a
Flow's ``trigger.event`` is owned by the flow's owner; a flow run by its flow's owner; a dead
letter by its subscription's owner; a Monitor by its own owner, else its target's. An object
the estate does not have is owned by nobody, so no team-scoped token may act on it.

Resolvers only run for team-scoped tokens: a platform-wide token never waits on them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from interlink.errors import NotFound
from interlink.estate.kinds import Monitor
from interlink.estate.model import Estate
from interlink.estate.subscriptions import subscriptions
from interlink.events.delivery.queue import JobKey
from interlink.flows.control import RunControl
from interlink.store.alerts import Silence


@dataclass(frozen=True)
class Owned:
    """One object a call would act on, as ``Kind/name``, and its owning Team (None: nobody)."""

    target: str
    team: str | None


Resolve = Callable[[Request], Awaitable[list[Owned]]]


@dataclass(frozen=True)
class Target:
    """How an action's targets and their owning Teams are found; ``what`` is for the docs."""

    what: str
    resolve: Resolve


def _estate(request: Request) -> Estate:
    estate: Estate = request.app.state.runtime.snapshot.estate
    return estate


def _owner(estate: Estate, kind: str, name: str) -> Owned:
    item = estate.get(kind, name)
    return Owned(f"{kind}/{name}", None if item is None else estate.owner_of(item.obj))


def _subscription(estate: Estate, name: str) -> Owned:
    for sub in subscriptions(estate):  # declared and implied by flows
        if sub.name == name:
            return Owned(f"Subscription/{name}", estate.owner_of(sub))
    return Owned(f"Subscription/{name}", None)


def _monitor(estate: Estate, name: str) -> Owned:
    item = estate.get("Monitor", name)
    if item is None or not isinstance(item.obj, Monitor):
        return Owned(f"Monitor/{name}", None)
    target = item.obj.spec.target
    own = estate.owner_of(item.obj)
    return Owned(f"Monitor/{name}", own or _owner(estate, target.kind, target.name).team)


def silenced(estate: Estate, monitor: str | None, target: str | None) -> list[Owned]:
    """What a silence over ``monitor`` (or ``target``, ``Kind/name``) holds, with owners."""
    if monitor is not None:
        return [_monitor(estate, monitor)]
    if target is not None:
        kind, _, name = target.partition("/")
        return [_owner(estate, kind, name)]
    return []


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object sent, or ``{}``: a malformed body names no target (the call's own
    validation says what is wrong with it once a platform token sends it)."""
    raw = await request.body()  # kept by the request: the endpoint reads it again
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


async def subscription_in_path(request: Request) -> list[Owned]:
    return [_subscription(_estate(request), request.path_params["name"])]


def flow(estate: Estate, name: str) -> Owned:
    """The Flow ``name`` and its owning Team (what a run of it is owned by)."""
    return _owner(estate, "Flow", name)


async def flow_in_path(request: Request) -> list[Owned]:
    return [_owner(_estate(request), "Flow", request.path_params["name"])]


async def product_in_path(request: Request) -> list[Owned]:
    return [_owner(_estate(request), "DataProduct", request.path_params["name"])]


async def run_in_path(request: Request) -> list[Owned]:
    run_id = request.path_params["run_id"]
    control = RunControl(request.app.state.runtime.store.db)
    try:
        run = await run_in_threadpool(control.runs.get, run_id)
    except NotFound:
        return [Owned(f"FlowRun/{run_id}", None)]
    return [_owner(_estate(request), "Flow", run.flow)]


async def flow_in_body(request: Request) -> list[Owned]:
    flow = _text((await _body(request)).get("flow"))
    return [] if flow is None else [_owner(_estate(request), "Flow", flow)]


async def dead_letters_in_body(request: Request) -> list[Owned]:
    body = await _body(request)
    ids = body.get("ids")
    return dead_letters(
        _estate(request), _text(body.get("subscription")), ids if isinstance(ids, list) else []
    )


def dead_letters(estate: Estate, subscription: str | None, ids: list[Any]) -> list[Owned]:
    """The subscriptions of the dead letters ``ids`` and of ``subscription``, with owners."""
    names: list[str] = []
    if subscription is not None:
        names.append(subscription)
    for id in ids:
        try:  # an id names its subscription: SUBSCRIPTION:SEQ[:REPLAY]
            names.append(JobKey.parse(str(id)).subscription)
        except NotFound:
            return [Owned(f"Delivery/{str(id)[:100]}", None)]
    return [_subscription(estate, name) for name in dict.fromkeys(names)]


async def silence_in_body(request: Request) -> list[Owned]:
    body = await _body(request)
    return silenced(_estate(request), _text(body.get("monitor")), _text(body.get("target")))


async def silence_in_path(request: Request) -> list[Owned]:
    book = request.app.state.runtime.store.alerts
    silence_id = request.path_params["silence_id"]
    found: list[Silence] = await run_in_threadpool(book.silences)
    for held in found:
        if str(held.id) == silence_id:
            return silenced(_estate(request), held.monitor, held.target)
    return [Owned(f"Silence/{silence_id[:20]}", None)]


SUBSCRIPTION = Target("the Subscription named in the path", subscription_in_path)
FLOW = Target("the Flow named in the path", flow_in_path)
PRODUCT = Target("the DataProduct named in the path", product_in_path)
RUN = Target("the run's Flow", run_in_path)
FLOW_FILTER = Target("the Flow the body's `flow` names (required)", flow_in_body)
DEAD_LETTERS = Target(
    "the Subscription of each dead letter (`ids`) or the body's `subscription`",
    dead_letters_in_body,
)
NEW_SILENCE = Target("the body's Monitor (its owner, else its target's) or target", silence_in_body)
SILENCE = Target("the silenced Monitor or target", silence_in_path)

__all__ = ["Owned", "Target"]
