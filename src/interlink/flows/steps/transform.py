"""``map`` (the message becomes the expression's result) and ``filter`` (a false condition
ends the run ``filtered``)."""

from __future__ import annotations

from interlink.estate.kinds.flow import FilterStep, MapStep, Step
from interlink.expressions import truthy
from interlink.flows.steps.base import StepContext, StepResult


async def run_map(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, MapStep)
    result = ctx.evaluate(step.expression)
    return StepResult(result, {**ctx.context, "message": result})


async def run_filter(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, FilterStep)
    passed = truthy(ctx.evaluate(step.condition))
    # A false condition keeps the pointer at the filter: a run stopped before it is marked
    # filtered evaluates the same condition on the same message again instead of going past it.
    return StepResult(passed, ctx.context, stop=None if passed else "filtered")
