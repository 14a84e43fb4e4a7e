"""``enrich``: a GET through an Api (its System's base URL and credentials, ``{field}`` in the
path taken from the message), its JSON answer put at the message's ``into`` field. An
enrich from a DataProduct does not run yet: the engine refuses such a flow before it starts."""

from __future__ import annotations

from interlink.estate.kinds.flow import EnrichStep, Step
from interlink.flows.calls import expand_path
from interlink.flows.retry import StepFailed
from interlink.flows.steps.base import StepContext, StepResult


async def run_enrich(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, EnrichStep)
    source = step.source
    # definition.unsupported() keeps a DataProduct source from starting.
    assert source.api is not None
    assert source.path is not None
    message = ctx.message
    if not isinstance(message, dict):
        raise StepFailed(
            f"enrich puts its result at {step.into!r} of the message, and the message is not "
            "an object",
            retryable=False,
        )
    path = expand_path(source.path, message)
    result = await ctx.runtime.call_api(source.api, "GET", path, None, ctx.run, step.name)
    return StepResult(result, {**ctx.context, "message": {**message, step.into: result}})
