"""``file``: one whole file written on a System with a files connector.

The path comes from its JSONata ``path`` (a fixed path is a quoted string). The rows (``rows``,
default the message; an object is one row) are written in ``format`` (``connectors/formats.py``),
or ``content``'s text as UTF-8. The connector writes the file atomically: a reader finds the old
file or the whole new one. Its output, kept in ``$steps``, is ``{"path", "format", "rows",
"bytes"}`` (``rows`` null for content); the message goes on unchanged. A retried step writes the
same path again, replacing what an earlier attempt may have written.
"""

from __future__ import annotations

from interlink.connectors.formats import FormatError, encode
from interlink.estate.kinds.flow import FileStep, Step
from interlink.flows.data import DataRequest
from interlink.flows.retry import StepFailed
from interlink.flows.steps.base import StepContext, StepResult


async def run_file(step: Step, ctx: StepContext) -> StepResult:
    assert isinstance(step, FileStep)
    path = ctx.evaluate(step.path)
    if not isinstance(path, str) or not path:
        raise StepFailed(
            f"{step.name}: path gives {type(path).__name__ if path is not None else 'nothing'}, "
            "not a file path (a fixed path is a quoted string: \"'out/a.csv'\")",
            retryable=False,
        )
    count: int | None = None
    if step.content is not None:
        text = ctx.evaluate(step.content)
        if not isinstance(text, str):
            raise StepFailed(f"{step.name}: content gives no text", retryable=False)
        data = text.encode()
    else:
        assert step.format is not None
        rows = ctx.rows(
            step.rows, f"{step.name}: the rows to write are an array of objects, or one object"
        )
        count = len(rows)
        try:
            data = encode(step.format, rows)
        except FormatError as exc:
            raise StepFailed(f"{step.name}: {exc}", retryable=False) from None
    request = DataRequest(ctx.run.flow, step.name, step.system, "file", path=path, data=data)
    written = await ctx.runtime.data(request)
    output = {"path": path, "format": step.format, "rows": count, "bytes": written}
    steps = {**ctx.context["steps"], step.name: output}
    return StepResult(output, {**ctx.context, "steps": steps})
