"""``call``: an HTTP call to a System, its answer kept under the step's name in ``$steps``;
and the ``compensate`` call that undoes it."""

from __future__ import annotations

from typing import Any

from interlink.estate.kinds.flow import CallStep, Step
from interlink.flows.calls import expand_path
from interlink.flows.steps.base import StepContext, StepResult

#: Methods whose call sends the message when the step has no ``body``; the others send none.
_SENDS_MESSAGE = frozenset({"POST", "PUT", "PATCH"})


def _body(source: str | None, method: str, ctx: StepContext) -> Any:
    if source is not None:
        return ctx.evaluate(source)
    return ctx.message if method in _SENDS_MESSAGE else None


async def run_call(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, CallStep)
    body = _body(step.body, step.method, ctx)
    path = expand_path(step.path, ctx.message)
    output = await ctx.runtime.call(step.system, step.method, path, body, ctx.run, step.name)
    steps = {**ctx.context["steps"], step.name: output}
    return StepResult(output, {**ctx.context, "steps": steps})


async def undo_call(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, CallStep)
    undo = step.compensate
    assert undo is not None
    body = _body(undo.body, undo.method, ctx)
    path = expand_path(undo.path, ctx.message)
    output = await ctx.runtime.call(
        undo.system, undo.method, path, body, ctx.run, step.name, compensate=True
    )
    return StepResult(output, ctx.context)
