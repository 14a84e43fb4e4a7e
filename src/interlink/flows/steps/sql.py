"""``query`` and ``write``: SQL on a System with a SQL connector.

A query's parameters come from its ``params`` expression (an object); its rows go to the
message's ``into`` field, or become the message; with ``one`` the single row (or null) does. A
write's rows come from its ``rows`` expression (default: the message), an object being one row;
its output is ``{"table", "mode", "rows": <count written>}``, kept in ``$steps``.
"""

from __future__ import annotations

from typing import Any

from interlink.estate.kinds.flow import QueryStep, Step, WriteStep
from interlink.flows.data import DataRequest
from interlink.flows.retry import StepFailed
from interlink.flows.steps.base import StepContext, StepResult


def _into(ctx: StepContext, name: str, into: str | None, result: Any) -> StepResult:
    steps = {**ctx.context["steps"], name: result}
    if into is None:
        return StepResult(result, {**ctx.context, "message": result, "steps": steps})
    message = ctx.message
    if not isinstance(message, dict):
        raise StepFailed(
            f"{name} puts its rows at {into!r} of the message, and the message is not an object",
            retryable=False,
        )
    return StepResult(result, {**ctx.context, "message": {**message, into: result}, "steps": steps})


async def run_query(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, QueryStep)
    params = ctx.evaluate(step.params) if step.params is not None else {}
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise StepFailed("params gives an object of the parameters' values", retryable=False)
    request = DataRequest(
        ctx.run.flow,
        step.name,
        step.system,
        "query",
        sql=step.sql,
        params=params,
        max_rows=1 if step.one else step.max_rows,
    )
    rows = await ctx.runtime.data(request)
    if not isinstance(rows, list):
        raise StepFailed("the query's answer is not a list of rows", retryable=False)
    result: Any = rows
    if step.one:
        result = rows[0] if rows else None
    return _into(ctx, step.name, step.into, result)


async def run_write(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, WriteStep)
    rows = ctx.rows(
        step.rows, "the rows to write are an array of objects (column: value), or one object"
    )
    count = 0
    if rows:
        request = DataRequest(
            ctx.run.flow,
            step.name,
            step.system,
            "write",
            table=step.table,
            rows=rows,
            mode=step.mode,
            key=tuple(step.key),
            batch_size=step.batch_size,
        )
        count = await ctx.runtime.data(request)
    output = {"table": step.table, "mode": step.mode, "rows": count}
    steps = {**ctx.context["steps"], step.name: output}
    return StepResult(output, {**ctx.context, "steps": steps})
