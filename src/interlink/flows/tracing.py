"""A flow run's trace: a span per step attempt under one span for the run.

A run may be resumed on another node (its lease lapsed, it waited for hours), so its trace must
not depend on anything held in one process. Its ids are derived from the run's id instead:
the trace id is the run id's 128 bits (a digest of it when it is not a UUID) and the run span's
id a digest of it, so every node that runs a step of the run puts the step's span under the same
run span, in the same trace, with nothing stored. Each attempt of a step is a span, current
while the step runs, so connector calls and HTTP calls made by the step are its children. The
run span itself is written when the run ends, by the node that ends it, from the run's start.

What started the run (an event's delivery attempt, a parent flow's step) is in another trace:
the run span links to it when the node that recorded the run also ends it (the link is kept in
memory, not stored).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Final

from interlink.flows.runs import FlowRun
from interlink.observe import tracing
from interlink.observe.tracing import TraceParent, new_span_id, parse_traceparent

#: Statuses after which a run does nothing more.
_ENDED: Final = frozenset({"completed", "failed", "compensated", "cancelled", "filtered",
                           "duplicate"})  # fmt: skip
#: Most callers remembered for runs not ended yet (the oldest are forgotten first).
_MAX_CALLERS: Final = 10_000
_callers: OrderedDict[str, TraceParent] = OrderedDict()


def run_context(run_id: str) -> TraceParent:
    """The trace and span ids of run ``run_id``'s span, the same on every node."""
    try:
        trace_id = uuid.UUID(run_id).int
    except ValueError:
        trace_id = int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:16], "big")
    digest = hashlib.sha256(b"run\x00" + run_id.encode()).digest()
    return TraceParent(trace_id or 1, int.from_bytes(digest[:8], "big") or 1)


def recorded(run_id: str) -> None:
    """Run ``run_id`` was recorded here: remember the span that asked for it, to link to."""
    traced = tracing.current()
    if traced is None:
        return
    caller = parse_traceparent(traced.traceparent())
    if caller is None:
        return
    _callers[run_id] = caller
    if len(_callers) > _MAX_CALLERS:
        _callers.popitem(last=False)


def step_span(
    run: FlowRun, step: str, kind: str, phase: str, attempt: int
) -> AbstractContextManager[object]:
    """The span of one attempt of ``step``, current while it runs (nothing when tracing is
    off)."""
    traced = tracing.current()
    if traced is None or not traced.sampled(run_context(run.id).trace_id):
        return nullcontext()
    return _step_span(traced, run, step, kind, phase, attempt)


@contextmanager
def _step_span(
    traced: tracing.Tracing, run: FlowRun, step: str, kind: str, phase: str, attempt: int
) -> Iterator[object]:
    parent = run_context(run.id).header()
    name = f"flow step {step}" if phase == "forward" else f"flow {phase} {step}"
    attributes: dict[str, str | int] = {
        "interlink.flow": run.flow,
        "interlink.flow.run": run.id,
        "interlink.flow.step": step,
        "interlink.flow.step.kind": kind,
        "interlink.flow.phase": phase,
        "interlink.attempt": attempt,
    }
    with traced.span(name, parent=parent, attributes=attributes) as span:
        yield span


def leading_step(run: FlowRun, step: str, kind: str, seconds: float) -> None:
    """The span of a run's first step, evaluated with its record (``seconds`` ago it began)."""
    traced = tracing.current()
    if traced is None:
        return
    context = run_context(run.id)
    if not traced.sampled(context.trace_id):
        return
    end_ns = time.time_ns()
    attributes: dict[str, str | int] = {
        "interlink.flow": run.flow,
        "interlink.flow.run": run.id,
        "interlink.flow.step": step,
        "interlink.flow.step.kind": kind,
        "interlink.flow.phase": "forward",
        "interlink.attempt": 1,
    }
    traced.record(
        f"flow step {step}",
        "internal",
        context.trace_id,
        new_span_id(),
        context.span_id,
        end_ns - int(seconds * 1e9),
        end_ns,
        attributes,
    )


def ended(run: FlowRun) -> None:
    """Write the span of ``run`` if it has ended."""
    traced = tracing.current()
    if traced is None or run.status not in _ENDED:
        return
    context = run_context(run.id)
    caller = _callers.pop(run.id, None)
    if not traced.sampled(context.trace_id):
        return
    end = run.finished_at or run.updated_at
    start_ns = int(run.started_at.timestamp() * 1e9)
    end_ns = int(end.timestamp() * 1e9) if end is not None else time.time_ns()
    attributes = {
        "interlink.flow": run.flow,
        "interlink.flow.run": run.id,
        "interlink.flow.trigger": run.trigger,
        "interlink.flow.status": run.status,
    }
    failed = run.error if run.status in ("failed", "compensated") else None
    traced.record(
        f"flow run {run.flow}",
        "internal",
        context.trace_id,
        context.span_id,
        None,
        start_ns,
        max(end_ns, start_ns),
        attributes,
        (failed or run.status) if failed is not None or run.status == "failed" else None,
        links=(caller,) if caller is not None else (),
    )
