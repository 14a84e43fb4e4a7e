"""``choice``: the first branch whose ``when`` holds runs its steps, else the ``otherwise``
steps (none: the run goes on after the choice). The branch taken is the step's output, so a
resumed run follows the same branch; the steps of the branch are checkpointed as any other."""

from __future__ import annotations

from interlink.estate.kinds.flow import ChoiceStep, Step
from interlink.expressions import truthy
from interlink.flows.steps.base import StepContext, StepResult


async def run_choice(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, ChoiceStep)
    entries = ctx.layout.entries[ctx.index]
    for number, branch in enumerate(step.branches):
        if truthy(ctx.evaluate(branch.when)):
            return StepResult({"branch": number}, ctx.context, next=entries[number])
    return StepResult({"branch": "otherwise"}, ctx.context, next=entries[-1])
