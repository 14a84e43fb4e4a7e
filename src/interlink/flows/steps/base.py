"""What a step kind gets from the engine and gives back: one protocol for every kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from interlink.estate.kinds.flow import Step
from interlink.flows.data import DataRequest
from interlink.flows.layout import Layout
from interlink.flows.records import quick
from interlink.flows.retry import StepFailed
from interlink.flows.runs import FlowRun, Status

#: Publishes one event: (event type, data, event id). The mesh's ingress in production.
Publisher = Callable[[str, Any, str], Awaitable[None]]


class Runtime(Protocol):
    """The engine's services a step may use."""

    publisher: Publisher | None

    def evaluate(self, source: str, run: FlowRun, context: dict[str, Any]) -> Any:
        """A JSONata expression over the message, ``$steps`` and ``$run``; StepFailed when
        it does not evaluate."""

    async def call(
        self,
        system: str,
        method: str,
        path: str,
        body: Any,
        run: FlowRun,
        step: str,
        *,
        compensate: bool = False,
    ) -> Any:
        """One HTTP call to a System by ``step`` (its compensation when ``compensate``); its
        JSON answer, or StepFailed."""

    async def call_api(
        self, api: str, method: str, path: str, body: Any, run: FlowRun, step: str
    ) -> Any:
        """One HTTP call to an Api (its System's base URL and credentials)."""

    async def data(self, request: DataRequest) -> Any:
        """One query or write on a System through its connector: rows, or the count written;
        StepFailed saying whether to retry."""

    async def run_children(
        self, run: FlowRun, index: int, name: str, items: list[Any], parallel: int
    ) -> list[FlowRun]:
        """Record (once) and run a child run of the steps after ``index`` per item; their
        end states, in the items' order."""

    async def run_child(self, run: FlowRun, name: str, flow: str, input: Any) -> FlowRun:
        """Record (once) and run a run of ``flow`` as step ``name``'s child; its end state."""

    def now(self) -> datetime:
        """The store's clock."""

    async def claim_key(self, flow: str, key: str, run_id: str, window: float) -> str:
        """Hold an idempotency key for a run unless another holds it; the holder's run id."""


@quick
@dataclass(frozen=True)
class StepContext:
    """One attempt of one step: the run, its context so far (``message``, ``steps``), the
    step's position in the run's layout, and the engine."""

    run: FlowRun
    context: dict[str, Any]
    index: int
    layout: Layout
    runtime: Runtime

    @property
    def message(self) -> Any:
        return self.context["message"]

    def evaluate(self, source: str) -> Any:
        return self.runtime.evaluate(source, self.run, self.context)

    def rows(self, source: str | None, failure: str) -> list[dict[str, Any]]:
        """The rows a step writes: ``source``'s value, else the message; one object is one
        row, nothing is none. Anything else fails the step, not retried, saying ``failure``."""
        rows = self.evaluate(source) if source is not None else self.message
        if isinstance(rows, dict):
            rows = [rows]
        if rows is None:
            rows = []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise StepFailed(failure, retryable=False)
        return rows


@quick
@dataclass(frozen=True)
class StepResult:
    """A step's output (checkpointed), the context after it, and where the run goes on:
    ``next`` overrides the following step, ``stop`` ends the run with that status (or parks
    it ``waiting`` until ``wake_at``)."""

    output: Any
    context: dict[str, Any]
    next: int | None = None
    stop: Status | None = None
    wake_at: datetime | None = None  # with stop="waiting": when the run goes on


class Executor(Protocol):
    async def __call__(self, step: Step, ctx: StepContext) -> StepResult: ...
