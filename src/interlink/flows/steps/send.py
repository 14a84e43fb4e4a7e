"""``send``: one message through a System whose connector sends messages (a broker, mail, chat).

The body is the ``message`` expression's value (the message without one); ``headers`` gives an
object whose values are sent as strings; ``subject`` a mail's subject. The message's key is
``<run id>:<step name>``, the same on every attempt of the step, so a connector that
deduplicates (an AMQP message id, a NATS ``Nats-Msg-Id``) takes a retried send once. The step's
output, kept in ``$steps``, is ``{"to", "key"}``; the message goes on unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from interlink.connectors.base import OutgoingMessage
from interlink.estate.kinds.flow import SendStep, Step
from interlink.flows.data import DataRequest
from interlink.flows.retry import StepFailed
from interlink.flows.steps.base import StepContext, StepResult


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StepFailed("headers gives an object of header names to values", retryable=False)
    return {
        str(name): item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))
        for name, item in value.items()
        if item is not None
    }


async def run_send(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, SendStep)
    body = ctx.evaluate(step.message) if step.message is not None else ctx.message
    headers = _headers(ctx.evaluate(step.headers) if step.headers is not None else None)
    subject = ctx.evaluate(step.subject) if step.subject is not None else None
    if subject is not None and not isinstance(subject, str):
        raise StepFailed("subject gives a string", retryable=False)
    key = f"{ctx.run.id}:{step.name}"
    message = OutgoingMessage(step.to, body, headers, subject, key)
    request = DataRequest(ctx.run.flow, step.name, step.system, "send", message=message)
    await ctx.runtime.data(request)
    output = {"to": step.to, "key": key}
    steps = {**ctx.context["steps"], step.name: output}
    return StepResult(output, {**ctx.context, "steps": steps})
