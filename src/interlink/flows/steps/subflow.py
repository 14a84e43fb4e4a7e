"""``flow``: another flow run as a child run of this one, its input the ``input`` expression's
result (the message without one), its end message kept under the step's name in ``$steps``.
The child's id derives from the parent's and the step's, so a parent resumed after a crash
finds the child it recorded and waits for that one. A child that does not complete fails the
step (its error is said); a child that waits fails it too (the parent does not wait on it).
"""

from __future__ import annotations

from interlink.estate.kinds.flow import FlowStep, Step
from interlink.flows.retry import StepFailed
from interlink.flows.steps.base import StepContext, StepResult

_DONE = frozenset({"completed", "filtered", "duplicate"})


async def run_flow(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, FlowStep)
    data = ctx.evaluate(step.input) if step.input is not None else ctx.message
    child = await ctx.runtime.run_child(ctx.run, step.name, step.flow, data)
    if child.status not in _DONE:
        raise StepFailed(
            f"Flow/{step.flow} run {child.id} ended {child.status}"
            + (f": {child.error}" if child.error else ""),
            retryable=False,
        )
    output = child.context.get("message")
    steps = {**ctx.context["steps"], step.name: output}
    return StepResult(output, {**ctx.context, "steps": steps})
