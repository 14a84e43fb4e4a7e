"""The step kinds a flow runs, one module per kind (or family), behind :data:`EXECUTORS`."""

from __future__ import annotations

from interlink.flows.steps.base import Executor, Publisher, Runtime, StepContext, StepResult
from interlink.flows.steps.call import run_call, undo_call
from interlink.flows.steps.choice import run_choice
from interlink.flows.steps.enrich import run_enrich
from interlink.flows.steps.file import run_file
from interlink.flows.steps.idempotency import run_idempotency
from interlink.flows.steps.publish import run_publish
from interlink.flows.steps.send import run_send
from interlink.flows.steps.split import run_split
from interlink.flows.steps.sql import run_query, run_write
from interlink.flows.steps.subflow import run_flow
from interlink.flows.steps.transform import run_filter, run_map
from interlink.flows.steps.wait import run_wait

#: The executor of each step kind the engine runs, by the step's ``type``.
EXECUTORS: dict[str, Executor] = {
    "map": run_map,
    "filter": run_filter,
    "call": run_call,
    "publish": run_publish,
    "choice": run_choice,
    "enrich": run_enrich,
    "idempotency": run_idempotency,
    "wait": run_wait,
    "split": run_split,
    "flow": run_flow,
    "query": run_query,
    "write": run_write,
    "file": run_file,
    "send": run_send,
}

__all__ = [
    "EXECUTORS",
    "Executor",
    "Publisher",
    "Runtime",
    "StepContext",
    "StepResult",
    "undo_call",
]
