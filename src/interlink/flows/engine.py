"""The flow engine: runs recorded in the store, steps checkpointed, sagas undone, runs recovered.

A run is recorded before any step executes (:meth:`FlowEngine.start` returns its id). Steps run
in order over the run's *message* (the input at first):

- ``map``: the message becomes the expression's result;
- ``filter``: a false condition ends the run as ``filtered``;
- ``call``: an HTTP call to a System (``calls.py``; ``{field}`` in its path is that field of
  the message), its body the ``body`` expression's result (without one: the message for POST,
  PUT and PATCH, nothing for the other methods); the answer's JSON is the step's output, kept
  under the step's name in ``$steps`` (``$steps.create.id``) while the message stays as it was,
  so a later ``map`` decides what of it joins the message;
- ``publish``: the ``data`` expression's result (the message when there is none) goes to the
  injected publisher as one event whose id is ``<run id>:<step name>``.

Expressions see the message as their input, ``$steps`` (the outputs so far) and ``$run``
(``id`` and ``flow``). Each step's output and the new context are checkpointed before the next
step starts. A failing step is tried again under its :class:`RetryPolicy` when the failure is
retryable; when it finally fails, the ``compensate`` calls of the completed ``call`` steps run
in reverse order (each retried the same way): the run ends ``compensated``, or ``failed`` when
a compensation fails or there was nothing to undo.

:meth:`FlowEngine.recover` resumes every pending run whose lease lapsed from its checkpoint: a
completed step is never run again, the step in flight is run again with the same
``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from interlink.errors import ConfigError, ExpressionError, LeaseLost
from interlink.estate.kinds.flow import CallStep, FilterStep, FlowSpec, MapStep, PublishStep, Step
from interlink.expressions import Expression, compile_expression, truthy
from interlink.flows.calls import Target, call, expand_path
from interlink.flows.definition import check_runnable, load, pin
from interlink.flows.retry import RetryPolicy, StepFailed
from interlink.flows.runs import OUTPUT_LIMIT, FlowRun, FlowRuns, Phase, StepMark, dump
from interlink.http.client import HttpClient

log = logging.getLogger("interlink.flows")

#: Publishes one event: (event type, data, event id). The mesh's ingress in production.
Publisher = Callable[[str, Any, str], Awaitable[None]]
T = TypeVar("T")
#: Methods whose call sends the message when the step has no ``body``; the others send none.
_SENDS_MESSAGE = frozenset({"POST", "PUT", "PATCH"})


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
        publisher: Publisher | None = None,
        client: HttpClient | None = None,
        retry: RetryPolicy | None = None,
        lease_ttl: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self.runs = runs
        self._flows = flows  # the flow's spec by name (ConfigError when unknown)
        self._targets = targets
        self._publisher = publisher
        self._owns_client = client is None
        self._client = client or HttpClient()
        self._retry = retry or RetryPolicy()
        self.lease_ttl = lease_ttl
        self.owner = owner or f"flows-{uuid.uuid4().hex[:12]}"

    # --- starting and running ----------------------------------------------------------------

    async def start(
        self, flow: str, input: Any, trigger: str = "manual", run_id: str | None = None
    ) -> str:
        """Record a run of ``flow`` for ``input``, held by this engine; its id. Nothing of it
        has run yet: :meth:`run` does that. A ``run_id`` already recorded starts nothing new
        (a redelivered event)."""
        return (await self._record(flow, input, trigger, run_id)).id

    async def _record(
        self, flow: str, input: Any, trigger: str, run_id: str | None = None
    ) -> FlowRun:
        spec = self._flows(flow)
        check_runnable(flow, spec)
        if self._publisher is None and any(isinstance(s, PublishStep) for s in spec.steps):
            raise ConfigError(f"Flow/{flow} publishes events, and this engine has no publisher")
        try:
            dump(input)
        except ValueError:
            raise ConfigError("a flow's input must be JSON") from None
        definition, revision = pin(spec)
        run = await self._db(
            self.runs.create,
            flow,
            revision,
            definition,
            trigger,
            input,
            self.owner,
            self.lease_ttl,
            run_id,
        )
        log.info("flow run %s of Flow/%s recorded (%s)", run.id, flow, trigger)
        return run

    async def run(self, run_id: str) -> FlowRun:
        """Run a recorded run until it ends (or another engine takes it over); its state."""
        run = await self._db(self.runs.take, run_id, self.owner, self.lease_ttl)
        if run is None:
            return await self._db(self.runs.get, run_id)
        return await self._hold(run)

    async def start_and_run(self, flow: str, input: Any, trigger: str = "manual") -> FlowRun:
        # The new run is already held by this engine: no claim to make before running it.
        return await self._hold(await self._record(flow, input, trigger))

    async def _hold(self, run: FlowRun) -> FlowRun:
        """Execute a run this engine holds, keeping its lease while it does."""
        heartbeat = asyncio.create_task(self._heartbeat(run.id))
        try:
            return await self._execute(run)
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

    async def _execute(self, run: FlowRun) -> FlowRun:
        spec = load(run.definition)
        context = run.context
        if run.status == "running":
            index = run.step
            while index < len(spec.steps):
                step = spec.steps[index]
                try:
                    output, context = await self._with_retries(
                        run, "forward", index, step, context, self._forward
                    )
                except StepFailed as exc:
                    error = f"step {step.name} failed: {exc.message}"
                    log.warning("flow run %s: %s", run.id, error)
                    run = await self._db(
                        self.runs.set_status, run, "compensating", self.owner, error
                    )
                    break
                if isinstance(step, FilterStep) and output is False:
                    return await self._db(self.runs.set_status, run, "filtered", self.owner)
                index += 1
            else:
                return await self._db(self.runs.set_status, run, "completed", self.owner)
        return await self._compensate(run, spec, context)

    async def _compensate(self, run: FlowRun, spec: FlowSpec, context: dict[str, Any]) -> FlowRun:
        records = await self._db(self.runs.steps, run.id)
        done = {(r.phase, r.index) for r in records if r.status == "completed"}
        stack = [
            (index, step)
            for index, step in enumerate(spec.steps)
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
                await self._with_retries(run, "compensate", index, step, context, self._undo)
            except StepFailed as exc:
                error = f"{run.error}; compensation of {step.name} failed: {exc.message}"
                return await self._db(self.runs.set_status, run, "failed", self.owner, error)
        return await self._db(self.runs.set_status, run, "compensated", self.owner)

    async def _with_retries(
        self,
        run: FlowRun,
        phase: Phase,
        index: int,
        step: Step,
        context: dict[str, Any],
        attempt: Callable[[FlowRun, Step, dict[str, Any]], Awaitable[tuple[Any, dict[str, Any]]]],
    ) -> tuple[Any, dict[str, Any]]:
        """Try a step until it succeeds or its policy gives up; its output and the context
        after it, checkpointed before this returns."""
        name = step.name
        # A step without side effects gets its row when it ends (one transaction, not two):
        # if the process dies during it, it is simply evaluated again.
        pure = isinstance(step, MapStep | FilterStep)
        number = 0
        while True:
            if pure:
                number += 1
                mark: StepMark | None = StepMark(name, step.type, number)
            else:
                mark = None
                number = await self._db(self.runs.step_started, run, phase, index, name, step.type)
            try:
                output, after = await attempt(run, step, context)
                if len(dump(output)) > OUTPUT_LIMIT:
                    raise StepFailed(
                        f"its output is over the {OUTPUT_LIMIT} bytes a step may keep",
                        retryable=False,
                    )
            except StepFailed as exc:
                await self._db(self.runs.step_failed, run, phase, index, exc.message, mark)
                if not exc.retryable or number >= self._retry.attempts:
                    raise
                await asyncio.sleep(self._retry.delay(number))
                continue
            following = index + 1 if phase == "forward" else run.step
            if isinstance(step, FilterStep) and output is False:
                # The pointer stays: a run stopped before it is marked filtered evaluates the
                # same condition on the same message again instead of going past it.
                following = index
            await self._db(
                self.runs.step_completed,
                run,
                phase,
                index,
                output,
                after,
                following,
                self.owner,
                mark,
            )
            return output, after

    async def _forward(
        self, run: FlowRun, step: Step, context: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        message = context["message"]
        if isinstance(step, MapStep):
            result = self._evaluate(step.expression, run, context)
            return result, {**context, "message": result}
        if isinstance(step, FilterStep):
            return truthy(self._evaluate(step.condition, run, context)), context
        if isinstance(step, CallStep):
            body = self._body(step.body, step.method, run, context)
            path = expand_path(step.path, message)
            output = await self._call(step.system, step.method, path, body, run, step.name)
            steps = {**context["steps"], step.name: output}
            return output, {**context, "steps": steps}
        if isinstance(step, PublishStep):
            data = self._evaluate(step.data, run, context) if step.data else message
            assert self._publisher is not None  # start() refuses a publishing flow without one
            try:
                await self._publisher(step.event, data, f"{run.id}:{step.name}")
            except Exception as exc:
                retryable = bool(getattr(exc, "retryable", True))
                raise StepFailed(f"publish {step.event}: {exc}", retryable=retryable) from None
            return None, context
        raise StepFailed(f"steps of kind {step.type} do not run yet", retryable=False)

    async def _undo(
        self, run: FlowRun, step: Step, context: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        assert isinstance(step, CallStep)
        undo = step.compensate
        assert undo is not None
        body = self._body(undo.body, undo.method, run, context)
        key = f"{step.name}:compensate"
        path = expand_path(undo.path, context["message"])
        output = await self._call(undo.system, undo.method, path, body, run, key)
        return output, context

    async def _call(
        self, system: str, method: str, path: str, body: Any, run: FlowRun, key: str
    ) -> Any:
        try:
            target = self._targets(system)
        except ConfigError as exc:
            raise StepFailed(exc.message, retryable=False) from None
        return await call(self._client, target, method, path, body, f"{run.id}:{key}")

    def _body(self, source: str | None, method: str, run: FlowRun, context: dict[str, Any]) -> Any:
        if source is not None:
            return self._evaluate(source, run, context)
        return context["message"] if method in _SENDS_MESSAGE else None

    def _evaluate(self, source: str, run: FlowRun, context: dict[str, Any]) -> Any:
        bindings = {"steps": context["steps"], "run": {"id": run.id, "flow": run.flow}}
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
