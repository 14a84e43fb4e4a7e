"""``wait``: a durable timer. The run turns ``waiting`` with ``wake_at`` stored and its lease
given up; :meth:`FlowEngine.recover` (called at start and on a timer) resumes it once that
time has passed, on any engine, after any number of restarts.

The time is worked out once, when the step first runs, and kept in the run's context (under
``waits``, by step index), so a resumed run waits for the same moment: ``for`` counts from
the first time the step ran, and ``until`` is not evaluated again. While waiting the pointer
stays at the step; when it is due, the step completes and the run goes on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from interlink.estate.kinds.flow import Step, WaitStep
from interlink.flows.retry import StepFailed
from interlink.flows.steps.base import StepContext, StepResult


def _moment(value: Any, source: str) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(UTC)
    raise StepFailed(
        f"the wait's until {source!r} gave {value!r}, not an ISO 8601 timestamp with a time "
        "zone nor epoch milliseconds",
        retryable=False,
    )


async def run_wait(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, WaitStep)
    waits: dict[str, str] = dict(ctx.context.get("waits", {}))
    slot = str(ctx.index)
    now = ctx.runtime.now()
    if slot in waits:
        wake = datetime.fromisoformat(waits[slot])
    elif step.until is not None:
        wake = _moment(ctx.evaluate(step.until), step.until)
    else:
        assert step.duration is not None
        wake = now + timedelta(seconds=step.duration)
    output = {"wakeAt": wake.isoformat()}
    if wake <= now:
        waits.pop(slot, None)
        return StepResult(output, {**ctx.context, "waits": waits})
    waits[slot] = wake.isoformat()
    return StepResult(output, {**ctx.context, "waits": waits}, stop="waiting", wake_at=wake)
