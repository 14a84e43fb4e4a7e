"""The flow engine: runs recorded in the store, steps checkpointed, sagas undone, runs recovered.

A run is recorded before any step with side effects executes (:meth:`FlowEngine.start`
returns its id; :meth:`FlowEngine.start_and_run` records a leading ``map`` or ``filter`` with
the run, already evaluated; :meth:`FlowEngine.defer`, for a consumed message whose broker
hands it out again until it is acked, records the run only with its first step's checkpoint).
Steps run in order over the run's *message* (the input at first), each kind by its executor in
``flows/steps/``, in the order ``layout.py`` numbers them (a choice's branch, then what
follows the choice). Expressions see the message as their input, ``$steps`` (the outputs so
far), ``$run`` (``id`` and ``flow``) and, in ``onError`` steps, ``$error``. Each step's output
and the new context are checkpointed before the next step starts, in the same transaction as
the next step's first attempt, or as the run's end after its last step.

A failing step is tried again under its policy (the step's ``retry``, else the engine's
:class:`RetryPolicy`) when the failure is retryable; an attempt over the step's ``timeout``
is such a failure. A flow with a ``timeout`` gives each run a deadline when it starts (and
when it is retried), kept with the run: the step in flight at the deadline fails for good with
``flow timeout after …``, a run waiting past it wakes at it to fail so, and the ``onError``
steps and compensations that follow are not limited by it (their steps' own timeouts are).
When a step finally fails, the flow's ``onError`` steps run, then the
``compensate`` calls of the completed ``call`` steps in reverse order (each retried the same
way): the run ends ``compensated``, or ``failed`` when a compensation fails or there was
nothing to undo. A step may also stop the run: ``filtered``, ``duplicate`` (an idempotency
key already held), or ``waiting`` until a ``wait`` step's time.

:meth:`FlowEngine.recover` resumes every pending run whose lease lapsed, and every waiting
run whose time came, from its checkpoint: a completed step is never run again, the step in
flight is run again with the same ``Idempotency-Key``.

Calls leave through a :class:`CallTransport` (HTTP unless another is given), query and write
steps' operations through a :class:`DataTransport` (the Systems' connectors), and waits are made
on a :class:`Timer` (the event loop's unless another is given): `interlink flows test` runs
the same engine on mocks and a virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from interlink.errors import ConfigError, ExpressionError, LeaseLost, StoreUnavailable
from interlink.estate.kinds.flow import (
    CallStep,
    EnrichStep,
    FileStep,
    FilterStep,
    FlowSpec,
    MapStep,
    PublishStep,
    QueryStep,
    SendStep,
    WriteStep,
    iter_steps,
)
from interlink.expressions import Expression, compile_expression
from interlink.flows.calls import CallRequest, CallTransport, HttpTransport, Target, call_through
from interlink.flows.data import DataRequest, DataTransport
from interlink.flows.definition import check_runnable, load, pin
from interlink.flows.inputs import validate_input
from interlink.flows.keys import FlowKeys
from interlink.flows.layout import Layout
from interlink.flows.observer import FlowObserver, Outcome
from interlink.flows.payloads import PayloadTooLarge, has_refs, omitted, over
from interlink.flows.records import copied
from interlink.flows.retry import RetryPolicy, StepFailed
from interlink.flows.runs import (
    PENDING,
    Advance,
    Advanced,
    FailedTry,
    FlowRun,
    FlowRuns,
    NewRun,
    Phase,
    Start,
    Status,
    StepMark,
    dump,
)
from interlink.flows.steps import EXECUTORS, Executor, Publisher, StepContext, StepResult, undo_call
from interlink.flows.timing import LoopTimer, Timer
from interlink.flows.tracing import ended as traced_run
from interlink.flows.tracing import leading_step as traced_leading
from interlink.flows.tracing import recorded as run_recorded
from interlink.flows.tracing import step_span
from interlink.http.client import HttpClient
from interlink.observe import signals
from interlink.observe.lineage import note_called

log = logging.getLogger("interlink.flows")

T = TypeVar("T")
#: How deep flow steps may nest child runs: a loop of flows calling each other stops here.
MAX_DEPTH = 8
#: Pinned specs and layouts kept before the caches start again (flows an estate holds).
_CACHED = 256
#: The first steps a deferred run may make before it is recorded: those that leave nothing
#: in the store (an idempotency key, a child run or a wait would name a run not recorded).
_DEFERRABLE = frozenset(
    {"call", "map", "filter", "choice", "publish", "send", "enrich", "query", "write", "file"}
)
__all__ = ["FlowEngine", "Publisher"]


@functools.lru_cache(maxsize=1024)
def _expression(source: str) -> Expression:
    return compile_expression(source)


@dataclass
class Deferred:
    """A run :meth:`FlowEngine.defer` made, held in memory until its first checkpoint, which
    records it (one insert with that checkpoint, its end for a run of one step). ``recorded``
    is set once that is committed, or fails when the run could not be recorded."""

    new: NewRun
    run: FlowRun
    recorded: asyncio.Future[Advanced] = field(repr=False)


class FlowEngine:
    """Runs flows durably over :class:`FlowRuns`; one per process is enough."""

    def __init__(
        self,
        runs: FlowRuns,
        flows: Callable[[str], FlowSpec],
        targets: Callable[[str], Target] | None = None,
        *,
        apis: Callable[[str], Target] | None = None,
        publisher: Publisher | None = None,
        client: HttpClient | None = None,
        transport: CallTransport | None = None,
        data: DataTransport | None = None,
        timer: Timer | None = None,
        retry: RetryPolicy | None = None,
        lease_ttl: float = 30.0,
        owner: str | None = None,
        observer: FlowObserver | None = None,
    ) -> None:
        self.runs = runs
        self._keys = FlowKeys(runs.db)
        self._flows = flows  # the flow's spec by name (ConfigError when unknown)
        self.publisher = publisher
        self._client: HttpClient | None = None  # one the engine made, closed by aclose()
        if transport is None:
            if targets is None:
                raise TypeError("a FlowEngine needs the Systems' targets or a transport")
            if client is None:
                client = self._client = HttpClient()
            # ``apis``: where an Api's calls go (enrich steps), by the Api's name.
            transport = HttpTransport(client, targets, apis)
        self._transport = transport
        # Without a lookup of Apis, a flow that enriches is refused before it starts.
        self._enriches = not isinstance(transport, HttpTransport) or transport.apis is not None
        # ``data``: how query and write steps reach their Systems; without it, a flow with
        # such a step is refused before it starts. Closed with the engine when it can be.
        self._data = data
        self._timer = timer or LoopTimer()
        self._retry = retry or RetryPolicy()
        self.lease_ttl = lease_ttl
        self.owner = owner or f"flows-{uuid.uuid4().hex[:12]}"
        self.observer = observer or FlowObserver()
        #: The runs this engine is executing now, with their flow (the in-flight gauge).
        self.holding: dict[str, str] = {}
        # Pinned specs (the spec kept so its id is not reused) and layouts, per run not redone.
        self._pins: dict[int, tuple[FlowSpec, dict[str, Any], str]] = {}
        self._layouts: dict[str, Layout] = {}
        self._checked: dict[int, tuple[FlowSpec, str]] = {}  # specs _check found runnable
        self._deferred: dict[str, Deferred] = {}  # runs deferred, until they are recorded

    # --- starting and running ----------------------------------------------------------------

    async def start(
        self, flow: str, input: Any, trigger: str = "manual", run_id: str | None = None
    ) -> str:
        """Record a run of ``flow`` for ``input``, held by this engine; its id. Nothing of it
        has run yet: :meth:`run` does that. A ``run_id`` already recorded starts nothing new
        (a redelivered event)."""
        return (await self._record(flow, input, trigger, run_id)).run.id

    async def start_once(self, flow: str, input: Any, trigger: str, run_id: str) -> str | None:
        """:meth:`start` under ``run_id``; None when that run was recorded before."""
        made = await self._record(flow, input, trigger, run_id)
        return made.run.id if made.created else None

    async def _record(
        self,
        flow: str,
        input: Any,
        trigger: str,
        run_id: str | None = None,
        *,
        first: bool = False,
        leading_steps: bool = True,
    ) -> Advanced:
        """Record a run; with ``first``, its leading steps without side effects are evaluated
        first and checkpointed with the record (unless not ``leading_steps``), or its first step's
        attempt is counted with it, one transaction for both."""
        new = self._new_run(flow, input, trigger, run_id, first)
        leading: tuple[str, str, float] | None = None
        if first:
            began = time.monotonic()
            first_step = self._leading(new) if leading_steps else None
            if first_step is not None:
                new = copied(new, first=first_step)
                mark = first_step.mark
                assert mark is not None
                leading = (mark.name, mark.kind, began)
            else:
                new = copied(new, start=self._first_start(new))
        made = await self.runs.commits.each(self.runs.write_all, new)
        self._recorded(made, trigger)
        if leading is not None:  # its attempt is reported once its checkpoint is committed
            name, kind, began = leading
            self.observer.step_started(flow, name, kind, "forward", 1)
            took = time.monotonic() - began
            self.observer.step_ended(flow, name, "forward", 1, took, "completed")
            traced_leading(made.run, name, kind, took)
        return made

    def _new_run(
        self, flow: str, input: Any, trigger: str, run_id: str | None, first: bool
    ) -> NewRun:
        """The run to record of ``flow`` for ``input`` (ConfigError, PayloadTooLarge or an
        input error when it cannot start); with ``first``, an id of its own when not given."""
        spec = self._flows(flow)
        checked = self._checked.get(id(spec))
        if checked is None or checked[0] is not spec or checked[1] != flow:
            self._check(flow, spec)  # once per spec object: the estate's, until a reload
            if len(self._checked) >= _CACHED:
                self._checked.clear()
            self._checked[id(spec)] = (spec, flow)
        text = self._check_input(input)
        validate_input(flow, spec.input_schema, input)
        definition, revision = self._pin(spec)
        return NewRun(
            flow,
            revision,
            definition,
            trigger,
            input,
            self.owner,
            self.lease_ttl,
            run_id or (str(uuid.uuid4()) if first else None),
            deadline=self._deadline(spec),
            input_text=text,
        )

    def _recorded(self, made: Advanced, trigger: str, *, traced: bool = False) -> None:
        """Say a run was recorded (the log, the observer; the caller's span to link to unless
        ``traced`` already)."""
        if not made.created:
            return
        if not traced:
            run_recorded(made.run.id)
        log.info("flow run %s of Flow/%s recorded (%s)", made.run.id, made.run.flow, trigger)
        self.observer.run_recorded(made.run.flow, trigger)

    async def defer(self, flow: str, input: Any, trigger: str, run_id: str) -> Advanced | Deferred:
        """A run of ``flow`` to run at once by :meth:`run_recorded`, recorded only with its
        first checkpoint: one insert holds the run and its first step's end (or failure), and
        a run of one step is recorded ended. Its first step acts before the run is recorded,
        so the caller must be able to start it again after a crash (a message acked only once
        ``recorded`` is set: redelivered otherwise, the step made again with the same
        ``Idempotency-Key``). A ``run_id`` recorded before is returned as :meth:`record` does
        (``created`` False), looked up with those of other new runs in one statement; one
        deferred here and not recorded yet is waited for first."""
        new = self._new_run(flow, input, trigger, run_id, True)
        layout = self._layout(new.revision, new.definition)
        if not layout.steps or layout.steps[0].type not in _DEFERRABLE:
            return await self._record(flow, input, trigger, run_id, first=True)
        while (pending := self._deferred.get(run_id)) is not None:
            await asyncio.wait([pending.recorded])
        known: FlowRun | None = await self.runs.commits.each(self.runs.known_all, run_id)
        if known is not None:
            return Advanced(known, None, created=False)
        if run_id in self._deferred:  # deferred meanwhile, by another caller: wait for it
            return await self.defer(flow, input, trigger, run_id)
        run = _in_memory(new, self.now())
        run_recorded(run_id)  # the caller's span, linked to from the run's (it runs elsewhere)
        recorded: asyncio.Future[Advanced] = asyncio.get_running_loop().create_future()
        deferred = self._deferred[run_id] = Deferred(
            copied(new, start=self._first_start(new)), run, recorded
        )
        recorded.add_done_callback(lambda _: self._deferred.pop(run_id, None))
        recorded.add_done_callback(_retrieved)
        return deferred

    async def _flush(self, deferred: Deferred, first: Advance | None = None) -> Advanced:
        """Record a deferred run: with ``first``, its first checkpoint, else as :meth:`record`
        would have before its first attempt. LeaseLost when another engine recorded it
        meanwhile; the store's error when it could not be recorded (``recorded`` fails too)."""
        new = deferred.new if first is None else copied(deferred.new, start=None, first=first)
        try:
            made: Advanced = await self.runs.commits.each(self.runs.write_all, new)
        except Exception as exc:
            if not deferred.recorded.done():
                deferred.recorded.set_exception(exc)
            raise
        self._recorded(made, new.trigger, traced=True)
        if not deferred.recorded.done():
            deferred.recorded.set_result(made)
        if not made.created:
            raise LeaseLost(f"flow run {made.run.id} was recorded by another engine meanwhile")
        return made

    def _first_start(self, new: NewRun) -> Start | None:
        """The first step when it has side effects: its first attempt is counted with the
        record, as the run goes on at once."""
        layout = self._layout(new.revision, new.definition)
        if not layout.steps or isinstance(layout.steps[0], MapStep | FilterStep):
            return None
        step = layout.steps[0]
        return Start(0, step.name, step.type)

    def _leading(self, new: NewRun) -> Advance | None:
        """The checkpoint of a new run's first step when it has no side effects and simply
        completes (no failure, no stop, an output within the limit, before the deadline);
        else None, and the run starts as it would have."""
        layout = self._layout(new.revision, new.definition)
        if not layout.steps or not isinstance(layout.steps[0], MapStep | FilterStep):
            return None
        now = self.now()
        if new.deadline is not None and new.deadline <= now:
            return None  # the usual path fails the step: the flow timed out
        run = _in_memory(new, now)
        step = layout.steps[0]
        attempt = EXECUTORS[step.type](step, StepContext(run, run.context, 0, layout, self))
        try:
            # A map or a filter awaits nothing: driving it by hand runs it to its end here.
            attempt.send(None)
        except StopIteration as done:
            result: StepResult = done.value
        except StepFailed:  # the run records it as usual, with its retries and onError
            return None
        else:  # pragma: no cover - a step kind without side effects that awaits something
            attempt.close()
            return None
        if result.stop is not None:
            return None  # the usual path stops the run
        output = dump(result.output)
        if len(output) > self.runs.payloads.limits.maximum:
            return None  # the usual path fails the step
        advance = self._advance(
            run, "forward", 0, layout, result, StepMark(step.name, step.type, 1), output
        )
        # A run that ends with its first step is recorded first: its end goes the usual way.
        return advance if advance.status is None else None

    def _check_input(self, input: Any) -> str:
        """``input`` as JSON; ConfigError when it is not JSON, PayloadTooLarge when it is too
        large."""
        try:
            text = dump(input)
        except ValueError:
            raise ConfigError("a flow's input must be JSON") from None
        maximum = self.runs.payloads.limits.maximum
        if len(text) > maximum:
            raise PayloadTooLarge(over("the input", len(text), maximum), len(text))
        return text

    async def refuse(
        self, flow: str, trigger: str, run_id: str | None, refused: PayloadTooLarge
    ) -> FlowRun:
        """Record a run of ``flow`` that failed before its first step as its input was too
        large, keeping only the input's size: what an event that cannot start a run leaves
        behind instead of going round the bus forever. A ``run_id`` recorded before is
        returned as it is."""
        definition, revision = pin(self._flows(flow))
        run = await self._db(
            self.runs.create,
            flow,
            revision,
            definition,
            trigger,
            omitted(refused.size),
            self.owner,
            self.lease_ttl,
            run_id,
        )
        if run.owner != self.owner or run.status != "running" or run.step != 0:
            return run
        log.warning("flow run %s of Flow/%s failed: %s", run.id, flow, refused.message)
        return await self._db(self.runs.set_status, run, "failed", self.owner, refused.message)

    def _check(self, flow: str, spec: FlowSpec) -> None:
        """ConfigError when this engine cannot run the flow."""
        check_runnable(flow, spec)
        steps = iter_steps([*spec.steps, *spec.on_error])
        if self.publisher is None and any(isinstance(s, PublishStep) for s in steps):
            raise ConfigError(f"Flow/{flow} publishes events, and this engine has no publisher")
        if not self._enriches and any(isinstance(s, EnrichStep) for s in steps):
            raise ConfigError(f"Flow/{flow} enriches from Apis, and this engine has no Api lookup")
        if self._data is None and any(
            isinstance(s, QueryStep | WriteStep | FileStep) for s in steps
        ):
            raise ConfigError(
                f"Flow/{flow} has SQL or file steps, and this engine reaches no connector"
            )
        if self._data is None and any(isinstance(s, SendStep) for s in steps):
            raise ConfigError(f"Flow/{flow} sends messages, and this engine reaches no connector")

    async def run(self, run_id: str) -> FlowRun:
        """Run a recorded run until it ends (or another engine takes it over); its state."""
        run = await self._db(self.runs.take, run_id, self.owner, self.lease_ttl)
        if run is None:
            return await self.loaded(await self._db(self.runs.get, run_id))
        return await self._hold(await self.loaded(run))

    async def start_and_run(self, flow: str, input: Any, trigger: str = "manual") -> FlowRun:
        return await self.run_recorded(await self.record(flow, input, trigger))

    async def record(
        self,
        flow: str,
        input: Any,
        trigger: str = "manual",
        run_id: str | None = None,
        *,
        leading_steps: bool = True,
    ) -> Advanced:
        """Record a run to be run at once by :meth:`run_recorded`, in one transaction with its
        leading steps without side effects (evaluated first, unless not ``leading_steps``: a caller
        whose run's steps must run in the run's own task) or its first step's first attempt.
        A ``run_id`` recorded before starts nothing new (``created`` False)."""
        return await self._record(
            flow, input, trigger, run_id, first=True, leading_steps=leading_steps
        )

    async def run_recorded(self, made: Advanced | Deferred) -> FlowRun:
        """Run what :meth:`record` recorded (or :meth:`defer` made) until it ends; its state.
        The new run is already held by this engine: no claim to make before running it. A run
        recorded before is taken over as :meth:`run` would."""
        if isinstance(made, Deferred):
            return await self._hold(made.run, made)
        if not made.created:
            return await self.run(made.run.id)
        if made.run.status != "running":  # its first step ended it
            return made.run
        return await self._hold(made.run, made.attempt)

    async def _hold(self, run: FlowRun, started: int | Deferred | None = None) -> FlowRun:
        """Execute a run this engine holds, keeping its lease while it does; ``started`` is
        the attempt of its current step already counted, or the deferred record of a run not
        recorded yet (its state in memory is returned when it could not be)."""
        # Most runs end before their lease needs extending: the heartbeat's task is made only
        # when its first beat is due.
        deferred = started if isinstance(started, Deferred) else None
        beating: list[asyncio.Task[None]] = []
        due = asyncio.get_running_loop().call_later(
            self.lease_ttl / 3,
            lambda: beating.append(asyncio.create_task(self._heartbeat(run.id, deferred))),
        )
        self.holding[run.id] = run.flow
        try:
            ended = await self.loaded(await self._execute(run, started))
            signals.ran(ended.flow, ended.status, ended.started_at, ended.finished_at)
            traced_run(ended)
            return ended
        except LeaseLost as exc:
            log.warning("%s", exc.message)
            return await self._db(self.runs.get, run.id)
        except Exception:
            if deferred is None or not _failed(deferred.recorded):
                raise
            return run  # never recorded: whoever waits for the record says why
        finally:
            if deferred is not None and not deferred.recorded.done():
                stopped = StoreUnavailable(f"flow run {run.id} stopped before it was recorded")
                deferred.recorded.set_exception(stopped)
            self.holding.pop(run.id, None)
            due.cancel()
            for heartbeat in beating:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat

    async def recover(self) -> list[FlowRun]:
        """Resume every pending run whose lease lapsed, from its checkpoint; their end states."""
        ids = await self._db(self.runs.claimable)
        if ids:
            log.info("resuming %d pending flow run(s)", len(ids))
        return list(await asyncio.gather(*(self.run(run_id) for run_id in ids)))

    async def aclose(self) -> None:
        """Close the HTTP connections of a client the engine made itself, and the connectors'
        connections."""
        if self._client is not None:
            await self._client.aclose()
        close = getattr(self._data, "aclose", None)
        if close is not None:
            await close()

    # --- one run -----------------------------------------------------------------------------

    async def _execute(self, run: FlowRun, started: int | Deferred | None = None) -> FlowRun:
        layout = self._layout(run.revision, run.definition)
        context = run.context
        if run.status == "running":
            index = run.step
            while index < layout.end:
                step = layout.steps[index]
                try:
                    done = await self._with_retries(
                        run, "forward", index, layout, context, EXECUTORS[step.type], started
                    )
                except StepFailed as exc:
                    started = None  # the failed step's attempts were its own
                    error = f"step {step.name} failed: {exc.message}"
                    log.warning("flow run %s: %s", run.id, error)
                    if layout.catch is not None and not layout.catching(index):
                        # The onError steps run first, the failure in $error; compensation
                        # follows them whatever they do.
                        context = {**context, "error": {"step": step.name, "message": exc.message}}
                        run = await self._db(
                            self.runs.divert, run, context, layout.catch, self.owner, error
                        )
                        index = layout.catch
                        continue
                    if layout.catching(index):
                        error = f"{run.error}; onError {error}"
                    run = await self._db(
                        self.runs.set_status, run, "compensating", self.owner, error
                    )
                    break
                run, started = done.run, done.attempt
                if run.status != "running":  # the checkpoint ended the run, or stopped it
                    return run
                context, index = run.context, run.step
            else:
                if "error" in context:  # the onError steps ran: on to compensation
                    run = await self._db(self.runs.set_status, run, "compensating", self.owner)
                else:
                    return await self._db(self.runs.set_status, run, "completed", self.owner)
        return await self._compensate(run, layout, context)

    async def _compensate(self, run: FlowRun, layout: Layout, context: dict[str, Any]) -> FlowRun:
        records = await self._db(self.runs.steps, run.id)
        done = {(r.phase, r.index) for r in records if r.status == "completed"}
        stack = [
            (index, step)
            for index, step in enumerate(layout.steps)
            if isinstance(step, CallStep)
            and step.compensate is not None
            and ("forward", index) in done
        ]
        if not stack:
            return await self._db(self.runs.set_status, run, "failed", self.owner)
        for index, step in reversed(stack):
            if ("compensate", index) in done:
                continue
            try:
                await self._with_retries(run, "compensate", index, layout, context, undo_call)
            except StepFailed as exc:
                error = f"{run.error}; compensation of {step.name} failed: {exc.message}"
                return await self._db(self.runs.set_status, run, "failed", self.owner, error)
        return await self._db(self.runs.set_status, run, "compensated", self.owner)

    async def _with_retries(
        self,
        run: FlowRun,
        phase: Phase,
        index: int,
        layout: Layout,
        context: dict[str, Any],
        executor: Executor,
        started: int | Deferred | None = None,
    ) -> Advanced:
        """Try a step until it succeeds or its policy gives up; the run once its result is
        checkpointed, with what follows it (:meth:`_advance`). ``started``: the number of
        the attempt already counted by the checkpoint before, or the record of a deferred run
        (:meth:`defer`), written with this step's checkpoint, or before its failure."""
        deferred = started if isinstance(started, Deferred) else None
        counted = 1 if isinstance(started, Deferred) else started  # a deferred run's, in memory
        step = layout.steps[index]
        name = step.name
        # A step without side effects gets its row when it ends (one transaction, not two):
        # if the process dies during it, it is simply evaluated again.
        pure = isinstance(step, MapStep | FilterStep)
        # The flow's deadline bounds its forward steps, not what handles their failure.
        deadline = run.deadline if phase == "forward" and not layout.catching(index) else None
        number = 0
        while True:
            if pure:
                number += 1
                mark: StepMark | None = StepMark(name, step.type, number)
            elif counted is not None:
                mark, number, counted = None, counted, None
            else:
                mark = None
                number = await self._db(self.runs.step_started, run, phase, index, name, step.type)
            self.observer.step_started(run.flow, name, step.type, phase, number)
            began = time.monotonic()
            try:
                with step_span(run, name, step.type, phase, number):
                    result = await self._attempt(
                        run,
                        step.timeout,
                        deadline,
                        lambda: executor(step, StepContext(run, context, index, layout, self)),
                    )
                output = dump(result.output)
                length = len(output)
                maximum = self.runs.payloads.limits.maximum
                if length > maximum:
                    raise StepFailed(
                        over(f"output of step {name}", length, maximum), retryable=False
                    )
            except StepFailed as exc:
                if deferred is not None:  # recorded as it would have been before the attempt
                    await self._flush(deferred)
                    deferred = None
                policy = self._retry if step.retry is None else RetryPolicy.of(step.retry)
                last = policy.gives_up(exc, number)
                pause = 0.0 if last else policy.delay(number)
                ended_at = self.now()  # and its start from the monotonic clock: no read before
                began_at = ended_at - timedelta(seconds=time.monotonic() - began)
                if deadline is not None:  # no sleeping past the deadline: the next try fails
                    pause = max(0.0, min(pause, (deadline - ended_at).total_seconds()))
                retry_at = None if last else ended_at + timedelta(seconds=pause)
                tried = FailedTry(number, began_at, ended_at, exc.message, retry_at)
                await self._db(self.runs.step_failed, run, phase, index, exc.message, mark, tried)
                took = time.monotonic() - began
                self.observer.step_ended(
                    run.flow, name, phase, number, took, "failed" if last else "retrying"
                )
                if last:
                    raise
                await self._timer.sleep(pause)
                continue
            # A step with side effects has its row already: the same upsert completes it,
            # with the attempts it counted, so a batch writes every step row in one statement.
            done = mark or StepMark(name, step.type, number)
            advance = self._advance(run, phase, index, layout, result, done, output)
            if deferred is not None:
                advanced = await self._flush(deferred, advance)
            else:
                advanced = await self.runs.commits.each(self.runs.write_all, advance)
            outcome: Outcome = "waiting" if result.stop == "waiting" else "completed"
            took = time.monotonic() - began
            self.observer.step_ended(run.flow, name, phase, number, took, outcome)
            return advanced

    def _advance(
        self,
        run: FlowRun,
        phase: Phase,
        index: int,
        layout: Layout,
        result: StepResult,
        mark: StepMark | None,
        output: str | None = None,
    ) -> Advance:
        """A completed step's checkpoint with what follows it in the same transaction: the
        next step's attempt when it has side effects, or the run's end when it was the
        last (or stopped the run). ``output``: the output's JSON, when known already."""
        if phase == "compensate":
            return Advance(
                run,
                phase,
                index,
                result.output,
                result.context,
                run.step,
                self.owner,
                mark,
                output_text=output,
            )
        if result.stop is not None:
            wake, deadline = result.wake_at, run.deadline
            if wake and deadline and wake > deadline and not layout.catching(index):
                wake = deadline  # to fail at the wait step then: the flow timed out
            # A stopping step keeps the pointer: a run stopped before its status is written
            # meets the same step again instead of going past it.
            return Advance(
                run,
                phase,
                index,
                result.output,
                result.context,
                index,
                self.owner,
                mark,
                status=result.stop,
                wake_at=wake,
                output_text=output,
            )
        following = layout.following[index] if result.next is None else result.next
        start: Start | None = None
        status: Status | None = None
        if following < layout.end:
            nxt = layout.steps[following]
            if not isinstance(nxt, MapStep | FilterStep):
                start = Start(following, nxt.name, nxt.type)
        elif "error" not in result.context:  # else the onError steps ran: on to compensation
            status = "completed"
        return Advance(
            run,
            phase,
            index,
            result.output,
            result.context,
            following,
            self.owner,
            mark,
            start,
            status,
            output_text=output,
        )

    def _pin(self, spec: FlowSpec) -> tuple[dict[str, Any], str]:
        """:func:`pin`, once per spec object (the estate hands out the same one each run)."""
        pinned = self._pins.get(id(spec))
        if pinned is None or pinned[0] is not spec:
            if len(self._pins) >= _CACHED:
                self._pins.clear()
            pinned = (spec, *pin(spec))
            self._pins[id(spec)] = pinned
        return pinned[1], pinned[2]

    def _layout(self, revision: str, definition: dict[str, Any]) -> Layout:
        """A pinned definition's layout, once per revision (its hash)."""
        layout = self._layouts.get(revision)
        if layout is None:
            if len(self._layouts) >= _CACHED:
                self._layouts.clear()
            layout = self._layouts[revision] = Layout.of(load(definition))
        return layout

    async def _attempt(
        self,
        run: FlowRun,
        timeout: float | None,
        deadline: datetime | None,
        begin: Callable[[], Awaitable[StepResult]],
    ) -> StepResult:
        """One attempt, within the step's timeout and the run's deadline, whichever is first."""
        limit, flow_limit = timeout, False
        if deadline is not None:
            left = (deadline - self.now()).total_seconds()
            if left <= 0:
                raise StepFailed(_timed_out(run), retryable=False)
            if limit is None or left < limit:
                limit, flow_limit = left, True
        if limit is None:
            return await begin()
        try:
            return await self._timer.limit(limit, begin())
        except TimeoutError:
            if flow_limit:
                raise StepFailed(_timed_out(run), retryable=False) from None
            raise StepFailed(
                f"the attempt took longer than its timeout of {limit:g} s", retryable=True
            ) from None

    # --- what steps use of the engine --------------------------------------------------------

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
        key = f"{run.id}:{step}" + (":compensate" if compensate else "")
        limit = self.runs.payloads.limits.maximum
        request = CallRequest(
            run.flow, step, compensate, "System", system, method, path, body, key, limit
        )
        answer = await call_through(self._transport, request)
        note_called(system, method, path)
        return answer

    async def call_api(
        self, api: str, method: str, path: str, body: Any, run: FlowRun, step: str
    ) -> Any:
        key, limit = f"{run.id}:{step}", self.runs.payloads.limits.maximum
        request = CallRequest(run.flow, step, False, "Api", api, method, path, body, key, limit)
        return await call_through(self._transport, request)

    async def data(self, request: DataRequest) -> Any:
        assert self._data is not None  # _check refuses a flow with SQL steps without it
        return await self._data(request)

    async def run_children(
        self, run: FlowRun, index: int, name: str, items: list[Any], parallel: int
    ) -> list[FlowRun]:
        spec = load(run.definition)
        if index >= len(spec.steps) or spec.steps[index].name != name:
            raise StepFailed(f"split {name} runs at the top level of a flow only", retryable=False)
        child = FlowSpec.model_validate(
            {**run.definition, "steps": run.definition["steps"][index + 1 :]}
            if index + 1 < len(spec.steps)
            else {**run.definition, "steps": [{"name": "item", "type": "map", "expression": "$"}]}
        )
        definition, revision = pin(child)
        gate = asyncio.Semaphore(parallel)

        async def one(number: int, item: Any) -> FlowRun:
            child_id = str(uuid.uuid5(uuid.UUID(run.id), f"{name}:{number}"))
            async with gate:
                await self._db(
                    self.runs.create,
                    run.flow,
                    revision,
                    definition,
                    f"split:{run.id}",
                    item,
                    self.owner,
                    self.lease_ttl,
                    child_id,
                    run.deadline,  # the items of a split end with the run that split them
                )
                return await self._run_child(child_id)

        try:
            for item in items:
                dump(item)
        except ValueError:
            raise StepFailed("a split item is not JSON", retryable=False) from None
        return list(await asyncio.gather(*(one(n, item) for n, item in enumerate(items))))

    async def run_child(self, run: FlowRun, name: str, flow: str, input: Any) -> FlowRun:
        try:
            spec = self._flows(flow)
            self._check(flow, spec)
        except ConfigError as exc:
            raise StepFailed(exc.message, retryable=False) from None
        try:
            dump(input)
        except ValueError:
            raise StepFailed(f"the input for Flow/{flow} is not JSON", retryable=False) from None
        depth, parent = 1, run
        while parent.trigger.startswith("flow:"):
            depth += 1
            if depth > MAX_DEPTH:
                raise StepFailed(
                    f"Flow/{flow} would run {MAX_DEPTH} flows deep: flows that call each other "
                    "in a loop?",
                    retryable=False,
                )
            parent = await self._db(self.runs.get, parent.trigger.removeprefix("flow:"))
        definition, revision = pin(spec)
        child_id = str(uuid.uuid5(uuid.UUID(run.id), f"flow:{name}"))
        await self._db(
            self.runs.create,
            flow,
            revision,
            definition,
            f"flow:{run.id}",
            input,
            self.owner,
            self.lease_ttl,
            child_id,
            _earliest(self._deadline(spec), run.deadline),
        )
        return await self._run_child(child_id)

    async def _run_child(self, child_id: str) -> FlowRun:
        """Run a child run (of a split or a flow step) until it ends.

        A parent resumed after its engine died may find the child still leased by that engine:
        each run has a heartbeat of its own, so the child's lease can outlast the parent's.
        Recovery never takes a child alone (its parent runs it), so giving up here would fail
        the parent and leave the child pending for ever: wait for its lease to lapse (or for
        the engine holding it, if alive, to end it) and take it over."""
        while True:
            child = await self.run(child_id)
            if child.status not in PENDING or child.owner == self.owner:
                return child
            await self._timer.sleep(self.lease_ttl / 3)

    def now(self) -> datetime:
        return self.runs.db.now()

    def _deadline(self, spec: FlowSpec) -> datetime | None:
        """When a run of ``spec`` starting now must have ended; None without a timeout."""
        if spec.timeout is None:
            return None
        return self.now() + timedelta(seconds=spec.timeout)

    async def claim_key(self, flow: str, key: str, run_id: str, window: float) -> str:
        return await self._db(self._keys.claim, flow, key, run_id, window)

    def evaluate(self, source: str, run: FlowRun, context: dict[str, Any]) -> Any:
        bindings = {
            "steps": context["steps"],
            "run": {"id": run.id, "flow": run.flow},
            "error": context.get("error"),
        }
        try:
            return _expression(source).evaluate(context["message"], bindings)
        except ExpressionError as exc:
            raise StepFailed(f"{exc.message} in {source!r}", retryable=False) from None

    # --- plumbing ----------------------------------------------------------------------------

    async def _heartbeat(self, run_id: str, deferred: Deferred | None = None) -> None:
        """Keep the lease while the run is being worked on (a step may take long), from a
        third of the lease on (a deferred run's once it is recorded)."""
        if deferred is not None:
            await asyncio.wait([deferred.recorded])
            if _failed(deferred.recorded):
                return
        while await self._db(self.runs.claim, run_id, self.owner, self.lease_ttl):
            await asyncio.sleep(self.lease_ttl / 3)

    async def loaded(self, run: FlowRun) -> FlowRun:
        """``run`` with what it keeps by reference loaded (a store read only when it has
        some: a large input or output)."""
        if not has_refs(run):
            return run
        return await asyncio.to_thread(self._resolve, run)

    def _resolve(self, run: FlowRun) -> FlowRun:
        with self.runs.db.session() as session:
            return self.runs.payloads.resolve_run(session, run)

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        # The store is synchronous; its calls run in a worker thread, those of concurrent runs
        # batched into one transaction (flows/commits.py).
        return await self.runs.commits.call(fn, *args)


def _timed_out(run: FlowRun) -> str:
    timeout = load(run.definition).timeout
    if timeout is None:  # a flow step's run, bound by the run that started it
        return "flow timeout: the calling run's deadline passed"
    return f"flow timeout after {timeout:g}s"


def _earliest(*moments: datetime | None) -> datetime | None:
    found = [moment for moment in moments if moment is not None]
    return min(found) if found else None


def _failed(future: asyncio.Future[Any]) -> bool:
    """Whether ``future`` ended with an exception."""
    return future.done() and not future.cancelled() and future.exception() is not None


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a deferred record's failure seen: whoever waits for it says it, or has stopped."""
    if not future.cancelled():
        future.exception()


def _in_memory(new: NewRun, now: datetime) -> FlowRun:
    """A new run as it will be recorded, before it is (``new`` has its id)."""
    assert new.run_id is not None
    return FlowRun(
        id=new.run_id,
        flow=new.flow,
        revision=new.revision,
        definition=new.definition,
        trigger=new.trigger,
        input=new.input,
        status="running",
        step=0,
        context={"message": new.input, "steps": {}},
        error=None,
        owner=new.owner,
        lease_until=now + timedelta(seconds=new.ttl),
        started_at=now,
        updated_at=now,
        finished_at=None,
        wake_at=None,
        deadline=new.deadline,
    )
