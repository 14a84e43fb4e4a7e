"""``idempotency``: the ``key`` expression's value is held by the first run of the flow that
reaches the step, for ``window``; a later run with the same key ends ``duplicate`` here,
before any step after it has had an effect (``keys.py``)."""

from __future__ import annotations

from interlink.estate.kinds.flow import IdempotencyStep, Step
from interlink.flows.retry import StepFailed
from interlink.flows.steps.base import StepContext, StepResult

#: Longer keys are refused: a key names an occurrence, it does not carry the data.
KEY_LIMIT = 512


async def run_idempotency(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, IdempotencyStep)
    value = ctx.evaluate(step.key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        kind = {dict: "an object", list: "an array", bool: "a boolean"}.get(type(value), "null")
        raise StepFailed(
            f"the idempotency key {step.key!r} is {kind}, not a string or a number",
            retryable=False,
        )
    key = str(value)
    if len(key) > KEY_LIMIT:
        raise StepFailed(
            f"the idempotency key is {len(key)} characters, over the {KEY_LIMIT} allowed",
            retryable=False,
        )
    holder = await ctx.runtime.claim_key(ctx.run.flow, key, ctx.run.id, step.window)
    if holder != ctx.run.id:
        return StepResult({"key": key, "duplicateOf": holder}, ctx.context, stop="duplicate")
    return StepResult({"key": key}, ctx.context)
