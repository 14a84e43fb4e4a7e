"""The flow engine: runs recorded in the store, steps checkpointed, sagas undone, runs recovered.

A run is recorded before any step with side effects executes (:meth:`FlowEngine.start`
returns its id; :meth:`FlowEngine.start_and_run` records a leading ``map`` or ``filter`` with
the run, already evaluated). Steps run
in order over the run's *message* (the input at first), each kind by its executor in
``flows/steps/``, in the order ``layout.py`` numbers them (a choice's branch, then what
follows the choice). Expressions see the message as their input, ``$steps`` (the outputs so
far), ``$run`` (``id`` and ``flow``) and, in ``onError`` steps, ``$error``. Each step's output
and the new context are checkpointed before the next step starts, in the same transaction as
the next step's first attempt, or as the run's end after its last step.

A failing step is tried again under its policy (the step's ``retry``, else the engine's
:class:`RetryPolicy`) when the failure is retryable; an attempt over the step's ``timeout``
is such a failure. When a step finally fails, the flow's ``onError`` steps run, then the
``compensate`` calls of the completed ``call`` steps in reverse order (each retried the same
way): the run ends ``compensated``, or ``failed`` when a compensation fails or there was
nothing to undo. A step may also stop the run: ``filtered``, ``duplicate`` (an idempotency
key already held), or ``waiting`` until a ``wait`` step's time.

:meth:`FlowEngine.recover` resumes every pending run whose lease lapsed, and every waiting
run whose time came, from its checkpoint: a completed step is never run again, the step in
flight is run again with the same ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from interlink.errors import ConfigError, ExpressionError, LeaseLost
from interlink.estate.kinds.flow import (
    CallStep,
    EnrichStep,
    FilterStep,
    FlowSpec,
    MapStep,
    PublishStep,
    iter_steps,
)
from interlink.expressions import Expression, compile_expression
from interlink.flows.calls import Target, call
from interlink.flows.definition import check_runnable, load, pin
from interlink.flows.keys import FlowKeys
from interlink.flows.layout import Layout
from interlink.flows.retry import RetryPolicy, StepFailed
from interlink.flows.runs import (
    OUTPUT_LIMIT,
    Advance,
    Advanced,
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
from interlink.http.client import HttpClient

log = logging.getLogger("interlink.flows")

T = TypeVar("T")
#: How deep flow steps may nest child runs: a loop of flows calling each other stops here.
MAX_DEPTH = 8
#: Pinned specs and layouts kept before the caches start again (flows an estate holds).
_CACHED = 256
__all__ = ["FlowEngine", "Publisher"]


@functools.lru_cache(maxsize=1024)
def _expression(source: str) -> Expression:
    return compile_expression(source)


class FlowEngine:
    """Runs flows durably over :class:`FlowRuns`; one per process is enough."""

    def __init__(
        self,
        runs: FlowRuns,
        flows: Callable[[str], FlowSpec],
        targets: Callable[[str], Target],
        *,
        apis: Callable[[str], Target] | None = None,
        publisher: Publisher | None = None,
        client: HttpClient | None = None,
        retry: RetryPolicy | None = None,
        lease_ttl: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self.runs = runs
        self._keys = FlowKeys(runs.db)
        self._flows = flows  # the flow's spec by name (ConfigError when unknown)
        self._targets = targets
        self._apis = apis  # where an Api's calls go (enrich steps), by the Api's name
        self.publisher = publisher
        self._owns_client = client is None
        self._client = client or HttpClient()
        self._retry = retry or RetryPolicy()
        self.lease_ttl = lease_ttl
        self.owner = owner or f"flows-{uuid.uuid4().hex[:12]}"
        # Pinned specs (the spec kept so its id is not reused) and layouts, per run not redone.
        self._pins: dict[int, tuple[FlowSpec, dict[str, Any], str]] = {}
        self._layouts: dict[str, Layout] = {}

    # --- starting and running ----------------------------------------------------------------

    async def start(
        self, flow: str, input: Any, trigger: str = "manual", run_id: str | None = None
    ) -> str:
        """Record a run of ``flow`` for ``input``, held by this engine; its id. Nothing of it
        has run yet: :meth:`run` does that. A ``run_id`` already recorded starts nothing new
        (a redelivered event)."""
        return (await self._record(flow, input, trigger, run_id)).run.id

    async def _record(
        self, flow: str, input: Any, trigger: str, run_id: str | None = None, *, first: bool = False
    ) -> Advanced:
        """Record a run; with ``first``, its leading steps without side effects are evaluated
        first and checkpointed with the record, one transaction for both."""
        spec = self._flows(flow)
        self._check(flow, spec)
        try:
            dump(input)
        except ValueError:
            raise ConfigError("a flow's input must be JSON") from None
        definition, revision = self._pin(spec)
        new = NewRun(flow, revision, definition, trigger, input, self.owner, self.lease_ttl, run_id)
        if first:
            new = replace(new, run_id=new.run_id or str(uuid.uuid4()))
            new = replace(new, first=self._leading(new))
        made = await self.runs.commits.each(self.runs.write_all, new)
        log.info("flow run %s of Flow/%s recorded (%s)", made.run.id, flow, trigger)
        return made

    def _leading(self, new: NewRun) -> Advance | None:
        """The checkpoint of a new run's first step when it has no side effects and simply
        completes (no failure, no stop); else None, and the run starts as it would have."""
        layout = self._layout(new.revision, new.definition)
        if not layout.steps or not isinstance(layout.steps[0], MapStep | FilterStep):
            return None
        now = self.now()
        assert new.run_id is not None
        run = FlowRun(
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
        )
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
        if result.stop is not None or len(dump(result.output)) > OUTPUT_LIMIT:
            return None
        advance = self._advance(
            run, "forward", 0, layout, result, StepMark(step.name, step.type, 1)
        )
        # A run that ends with its first step is recorded first: its end goes the usual way.
        return advance if advance.status is None else None

    def _check(self, flow: str, spec: FlowSpec) -> None:
        """ConfigError when this engine cannot run the flow."""
        check_runnable(flow, spec)
        steps = iter_steps([*spec.steps, *spec.on_error])
        if self.publisher is None and any(isinstance(s, PublishStep) for s in steps):
            raise ConfigError(f"Flow/{flow} publishes events, and this engine has no publisher")
        if self._apis is None and any(isinstance(s, EnrichStep) for s in steps):
            raise ConfigError(f"Flow/{flow} enriches from Apis, and this engine has no Api lookup")

    async def run(self, run_id: str) -> FlowRun:
        """Run a recorded run until it ends (or another engine takes it over); its state."""
        run = await self._db(self.runs.take, run_id, self.owner, self.lease_ttl)
        if run is None:
            return await self._db(self.runs.get, run_id)
        return await self._hold(run)

    async def start_and_run(self, flow: str, input: Any, trigger: str = "manual") -> FlowRun:
        # The new run is already held by this engine: no claim to make before running it.
        made = await self._record(flow, input, trigger, first=True)
        if made.run.status != "running":  # its first step ended it
            return made.run
        return await self._hold(made.run, made.attempt)

    async def _hold(self, run: FlowRun, started: int | None = None) -> FlowRun:
        """Execute a run this engine holds, keeping its lease while it does; ``started`` is
        the attempt of its current step already counted."""
        heartbeat = asyncio.create_task(self._heartbeat(run.id))
        try:
            return await self._execute(run, started)
        except LeaseLost as exc:
            log.warning("%s", exc.message)
            return await self._db(self.runs.get, run.id)
        finally:
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
        """Close the HTTP connections of a client the engine made itself."""
        if self._owns_client:
            await self._client.aclose()

    # --- one run -----------------------------------------------------------------------------

    async def _execute(self, run: FlowRun, started: int | None = None) -> FlowRun:
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
        started: int | None = None,
    ) -> Advanced:
        """Try a step until it succeeds or its policy gives up; the run once its result is
        checkpointed, with what follows it (:meth:`_advance`). ``started``: the number of
        the attempt already counted by the checkpoint before."""
        step = layout.steps[index]
        name = step.name
        # A step without side effects gets its row when it ends (one transaction, not two):
        # if the process dies during it, it is simply evaluated again.
        pure = isinstance(step, MapStep | FilterStep)
        number = 0
        while True:
            if pure:
                number += 1
                mark: StepMark | None = StepMark(name, step.type, number)
            elif started is not None:
                mark, number, started = None, started, None
            else:
                mark = None
                number = await self._db(self.runs.step_started, run, phase, index, name, step.type)
            try:
                attempt = executor(step, StepContext(run, context, index, layout, self))
                if step.timeout is None:
                    result = await attempt
                else:
                    try:
                        result = await asyncio.wait_for(attempt, step.timeout)
                    except TimeoutError:
                        raise StepFailed(
                            f"the attempt took longer than its timeout of {step.timeout:g} s",
                            retryable=True,
                        ) from None
                if len(dump(result.output)) > OUTPUT_LIMIT:
                    raise StepFailed(
                        f"its output is over the {OUTPUT_LIMIT} bytes a step may keep",
                        retryable=False,
                    )
            except StepFailed as exc:
                await self._db(self.runs.step_failed, run, phase, index, exc.message, mark)
                policy = self._retry if step.retry is None else RetryPolicy.of(step.retry)
                if policy.gives_up(exc, number):
                    raise
                await asyncio.sleep(policy.delay(number))
                continue
            # A step with side effects has its row already: the same upsert completes it,
            # with the attempts it counted, so a batch writes every step row in one statement.
            done = mark or StepMark(name, step.type, number)
            advance = self._advance(run, phase, index, layout, result, done)
            return await self.runs.commits.each(self.runs.write_all, advance)

    def _advance(
        self,
        run: FlowRun,
        phase: Phase,
        index: int,
        layout: Layout,
        result: StepResult,
        mark: StepMark | None,
    ) -> Advance:
        """A completed step's checkpoint with what follows it in the same transaction: the
        next step's attempt when it has side effects, or the run's end when it was the
        last (or stopped the run)."""
        if phase == "compensate":
            return Advance(
                run, phase, index, result.output, result.context, run.step, self.owner, mark
            )
        if result.stop is not None:
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
                wake_at=result.wake_at,
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

    # --- what steps use of the engine --------------------------------------------------------

    async def call(
        self, system: str, method: str, path: str, body: Any, run: FlowRun, key: str
    ) -> Any:
        return await self._send(self._targets, system, method, path, body, run, key)

    async def call_api(
        self, api: str, method: str, path: str, body: Any, run: FlowRun, key: str
    ) -> Any:
        assert self._apis is not None  # start() refuses a flow that enriches without one
        return await self._send(self._apis, api, method, path, body, run, key)

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
                )
                return await self.run(child_id)

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
        )
        return await self.run(child_id)

    def now(self) -> datetime:
        return self.runs.db.now()

    async def claim_key(self, flow: str, key: str, run_id: str, window: float) -> str:
        return await self._db(self._keys.claim, flow, key, run_id, window)

    async def _send(
        self,
        lookup: Callable[[str], Target],
        name: str,
        method: str,
        path: str,
        body: Any,
        run: FlowRun,
        key: str,
    ) -> Any:
        try:
            target = lookup(name)
        except ConfigError as exc:
            raise StepFailed(exc.message, retryable=False) from None
        return await call(self._client, target, method, path, body, f"{run.id}:{key}")

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

    async def _heartbeat(self, run_id: str) -> None:
        """Keep the lease while the run is being worked on (a step may take long)."""
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            if not await self._db(self.runs.claim, run_id, self.owner, self.lease_ttl):
                return

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        # The store is synchronous; its calls run in a worker thread, those of concurrent runs
        # batched into one transaction (flows/commits.py).
        return await self.runs.commits.call(fn, *args)
