"""A flow's page in the console: what starts it and its steps drawn in order, as nested HTML
lists a screen reader reads as they are drawn (no picture without its words).

A choice's branches are drawn side by side under it, each with its condition; a call's
compensation beside the call, and the compensations a failure runs listed in the order they run
(the completed calls undone last first); the ``onError`` steps in a lane of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from interlink.admin.console.access import require
from interlink.admin.console.render import html
from interlink.admin.console.session import Signed
from interlink.admin.lookup import known
from interlink.estate.durations import format_duration
from interlink.estate.kinds import Flow, Route
from interlink.estate.kinds.flow import (
    CallStep,
    ChoiceStep,
    EnrichStep,
    FilterStep,
    FlowStep,
    IdempotencyStep,
    PublishStep,
    SplitStep,
    Step,
    Trigger,
    WaitStep,
)
from interlink.estate.model import Estate
from interlink.estate.subscriptions import subscriptions

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Lane:
    """Steps run one after another: the flow's own, a branch's, or the onError ones."""

    label: str
    steps: list[Box]


@dataclass(frozen=True)
class Box:
    """One step as drawn: its name, kind, what it does in a line, and what hangs off it."""

    name: str
    kind: str
    detail: str
    compensate: str | None = None
    retry: str | None = None
    flow: str | None = None  # a child flow's name, linked to its own page
    branches: list[Lane] = field(default_factory=list)


def _call(method: str, system: str, path: str) -> str:
    return f"{method} {system} {path}"


def _detail(step: Step) -> str:
    if isinstance(step, CallStep):
        return _call(step.method, step.system, step.path)
    if isinstance(step, FilterStep):
        return f"keeps the message when {step.condition}"
    if isinstance(step, IdempotencyStep):
        return f"once per key {step.key} within {format_duration(step.window)}"
    if isinstance(step, PublishStep):
        return f"publishes {step.event}"
    if isinstance(step, FlowStep):
        return f"runs flow {step.flow}"
    if isinstance(step, WaitStep):
        if step.duration is not None:
            return f"waits {format_duration(step.duration)}"
        return f"waits until {step.until}"
    if isinstance(step, SplitStep):
        return f"one message per item of {step.items}"
    if isinstance(step, EnrichStep):
        source = step.source
        where = (
            f"{source.api} {source.path}" if source.api else f"data product {source.data_product}"
        )
        return f"adds {where} into {step.into}"
    if isinstance(step, ChoiceStep):
        return "the first branch whose condition holds"
    system = getattr(step, "system", None)  # query, write, file, send: a System's connector
    return f"on {system}" if system else ""


def _retry(step: Step) -> str | None:
    if step.retry is None:
        return None
    return f"up to {step.retry.attempts} tries"


def box(step: Step) -> Box:
    branches: list[Lane] = []
    if isinstance(step, ChoiceStep):
        branches = [Lane(f"when {b.when}", [box(s) for s in b.steps]) for b in step.branches]
        branches.append(Lane("otherwise", [box(s) for s in step.otherwise]))
    undo = step.compensate if isinstance(step, CallStep) else None
    return Box(
        step.name,
        step.type,
        _detail(step),
        compensate=None if undo is None else _call(undo.method, undo.system, undo.path),
        retry=_retry(step),
        flow=step.flow if isinstance(step, FlowStep) else None,
        branches=branches,
    )


def compensations(lane: list[Box]) -> list[Box]:
    """The steps a failure undoes, in the order it undoes them: the last completed first."""
    found: list[Box] = []
    for b in lane:
        if b.compensate is not None:
            found.append(b)
        for branch in b.branches:
            found.extend(reversed(compensations(branch.steps)))
    return list(reversed(found))


def starts(estate: Estate, name: str, trigger: Trigger | None) -> list[str]:
    """What starts a run of flow ``name``, in words."""
    found = []
    if trigger is not None:
        found.append(_trigger(trigger))
    for sub in subscriptions(estate):
        if sub.spec.target.flow == name:
            found.append(f"each {sub.spec.event} event, delivered by Subscription/{sub.name}")
    for route in estate.of(Route):
        if route.spec.flow == name:
            found.append(f"each request to Route/{route.name}")
    return found or ["a start by hand (API or CLI) only"]


def _trigger(t: Trigger) -> str:
    if t.event is not None:
        return f"each {t.event} event"
    if t.schedule is not None:
        return f"the schedule {t.schedule} ({t.timezone or 'UTC'})"
    if t.poll is not None:
        return f"each new item polled from {t.poll.trigger_name}"
    if t.watch is not None:
        return f"each new file under {t.watch.system}/{t.watch.prefix}"
    if t.consume is not None:
        return f"each message of {t.consume.source} on {t.consume.system}"
    return "a start by hand (API or CLI)"


@router.get("/flows/{name}")
async def flow_page(
    request: Request, viewer: Signed, name: Annotated[str, Path(max_length=100)]
) -> Response:
    await require(request, viewer, "estate.read")
    estate: Estate = request.app.state.runtime.snapshot.estate
    flows = {f.name: f for f in estate.of(Flow)}
    known("flow", name, flows)
    spec = flows[name].spec
    steps = [box(s) for s in spec.steps]
    return html(
        request,
        "flow.html",
        viewer,
        flow=flows[name],
        owner=estate.owner_of(flows[name]),
        starts=starts(estate, name, spec.trigger),
        steps=steps,
        on_error=[box(s) for s in spec.on_error],
        undo=compensations(steps),
        timeout=None if spec.timeout is None else format_duration(spec.timeout),
    )
