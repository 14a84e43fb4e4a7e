"""``publish``: the ``data`` expression's result (the message without one) as one event whose
id is ``<run id>:<step name>``."""

from __future__ import annotations

from interlink.estate.kinds.flow import PublishStep, Step
from interlink.flows.retry import StepFailed
from interlink.flows.steps.base import StepContext, StepResult


async def run_publish(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, PublishStep)
    data = ctx.evaluate(step.data) if step.data else ctx.message
    publisher = ctx.runtime.publisher
    assert publisher is not None  # start() refuses a publishing flow without one
    try:
        await publisher(step.event, data, f"{ctx.run.id}:{step.name}")
    except Exception as exc:
        retryable = bool(getattr(exc, "retryable", True))
        raise StepFailed(f"publish {step.event}: {exc}", retryable=retryable) from None
    return StepResult(None, ctx.context)
