"""``split``: the ``items`` expression's array, one child run per item of the steps after the
split (and the flow's ``onError`` steps), the item as the child's message. The parent runs the
children itself, at most :data:`PARALLEL` at a time, and its split step completes when they
have all ended: its output lists each child's id, status and final message, and the parent
ends there (the steps after the split ran in the children). A child that did not complete
(``completed``, ``filtered`` or ``duplicate``) fails the split step. Children have ids derived
from the parent's and the item's position, so a parent resumed after a crash finds the
children it had recorded, finished or not, rather than recording them again. A split runs at
the top level of a flow only, not inside a choice branch or the onError steps.
"""

from __future__ import annotations

from interlink.estate.kinds.flow import SplitStep, Step
from interlink.flows.retry import StepFailed
from interlink.flows.steps.base import StepContext, StepResult

#: More items than this fail the step: each is a run with its own rows.
ITEM_LIMIT = 1000
#: Children run at once, at most.
PARALLEL = 16
_DONE = frozenset({"completed", "filtered", "duplicate"})


async def run_split(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, SplitStep)
    items = ctx.evaluate(step.items)
    if not isinstance(items, list):
        raise StepFailed(f"split items {step.items!r} is not an array", retryable=False)
    if len(items) > ITEM_LIMIT:
        raise StepFailed(
            f"split items gave {len(items)} items, over the {ITEM_LIMIT} a split may run",
            retryable=False,
        )
    children = await ctx.runtime.run_children(ctx.run, ctx.index, step.name, items, PARALLEL)
    output = [
        {"run": child.id, "status": child.status, "message": child.context.get("message")}
        for child in children
    ]
    failed = [child for child in children if child.status not in _DONE]
    if failed:
        first = failed[0]
        raise StepFailed(
            f"{len(failed)} of {len(children)} split runs did not complete; {first.id} ended "
            f"{first.status}" + (f": {first.error}" if first.error else ""),
            retryable=False,
        )
    return StepResult(output, ctx.context, next=ctx.layout.end)
