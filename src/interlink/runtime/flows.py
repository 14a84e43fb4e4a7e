"""The flows a serving node runs: one :class:`FlowEngine` on the runtime's store.

Runs start three ways: an event through a Subscription that targets a Flow (the mesh's
delivery records the run before the event is acked, then the run goes on here; a flow that
cannot start, with a step kind the engine does not run, keeps its Subscriptions' events in the
bus), the admin API,
and recovery. Every ``recover_every`` seconds the runner looks for pending runs whose lease
lapsed (their node stopped or died) and waiting runs whose time came, and runs them from
their checkpoint here; the per-run
claim in the store lets one node at a time hold a run, and the lease a node keeps on the runs
it works on is short (the process's lease time, 5 s by default), so a dead node's runs move on
within seconds. New runs use the flow as the current revision declares it; a run keeps the
definition it started with.

The runner is the engine's observer: it counts runs, steps, their attempts and durations by
flow and step (names from the estate, so the series are bounded), the runs in flight here by
flow, and every ``WAITING_EVERY`` seconds (sooner after a run here starts or stops waiting)
the runs waiting at a ``wait`` step in the whole store, by flow: one grouped count on an index.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from interlink.connectors.observed import CallFlusher
from interlink.errors import InterlinkError, NotFound, StoreUnavailable
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.estate.kinds.organisation import System
from interlink.estate.model import Estate
from interlink.events.ingress import EventIngress
from interlink.flows.calls import Target, api_targets, system_targets
from interlink.flows.control import RunConflict, RunControl, RunFilter
from interlink.flows.data import ConnectorTransport, system_lookup
from interlink.flows.definition import check_runnable
from interlink.flows.engine import Deferred, FlowEngine, Publisher
from interlink.flows.observer import FlowObserver, Outcome
from interlink.flows.payloads import PayloadLimits, PayloadTooLarge, limits_of
from interlink.flows.publish import ingress_publisher
from interlink.flows.retention import RetentionJob
from interlink.flows.retry import StepFailed
from interlink.flows.runs import PENDING, Advanced, FlowRun, FlowRuns, Phase
from interlink.flows.scheduler import FlowScheduler
from interlink.flows.triggers import FlowTriggers, TriggerSource
from interlink.flows.triggers.declared import declared_triggers
from interlink.observe.inventory import step_targets, trigger_link
from interlink.observe.lineage import CURRENT_RUN, RunLineage, note_step
from interlink.observe.links import LinkCounts
from interlink.observe.metrics import Registry
from interlink.runtime.flow_retention import start_retention
from interlink.runtime.flow_schedules import start_scheduler
from interlink.runtime.flow_triggers import Declare, start_triggers
from interlink.runtime.lineage import NodeLineage
from interlink.runtime.runtime import Runtime
from interlink.runtime.snapshot import Snapshot
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.flows")

#: Seconds between looks for runs whose node is gone.
RECOVER_EVERY: Final = 1.0
#: Seconds between two counts of the waiting runs (one grouped query on an index).
WAITING_EVERY: Final = 15.0
#: Most runs one bulk retry call picks (the CLI calls again until none is left).
RETRY_BATCH: Final = 500
_ENDS: Final = ("completed", "failed", "compensated", "filtered", "cancelled", "duplicate")


class FlowMetrics(FlowObserver):
    """The node's flow metrics; the engine reports each step attempt here."""

    def __init__(self, registry: Registry, links: LinkCounts | None = None) -> None:
        self.links = links
        # (flow, step, phase) → (kind, target) of the steps that reach another object.
        self.targets: dict[tuple[str, str, str], tuple[str, str]] = {}
        self.started = registry.counter(
            "interlink_flow_runs_started_total", "Flow runs recorded, by flow.", ("flow",)
        )
        self.ended = registry.counter(
            "interlink_flow_runs_ended_total",
            "Flow runs that ended here, by flow and status "
            "(completed, failed, compensated, filtered, cancelled, duplicate).",
            ("flow", "status"),
        )
        self.duration = registry.histogram(
            "interlink_flow_run_duration_seconds",
            "From a run's start to its end, for the runs that ended here.",
            ("flow",),
        )
        self.in_flight = registry.gauge(
            "interlink_flow_runs_in_flight",
            "Flow runs this node is running now, by flow.",
            ("flow",),
        )
        self.waiting = registry.gauge(
            "interlink_flow_runs_waiting",
            "Flow runs waiting at a wait step, by flow: the store's count, every node the same "
            f"(refreshed every {WAITING_EVERY:g} s).",
            ("flow",),
        )
        self.steps_started = registry.counter(
            "interlink_flow_steps_started_total",
            "Flow steps begun (their first attempt), by flow and step.",
            ("flow", "step"),
        )
        self.steps_ended = registry.counter(
            "interlink_flow_steps_ended_total",
            "Flow steps that ended, by flow, step and status (completed, failed: for good, "
            "compensated: its compensation succeeded, compensation_failed).",
            ("flow", "step", "status"),
        )
        self.step_retries = registry.counter(
            "interlink_flow_step_retries_total",
            "Attempts of flow steps and compensations beyond the first, by flow and step.",
            ("flow", "step"),
        )
        self.step_duration = registry.histogram(
            "interlink_flow_step_duration_seconds",
            "How long each attempt of a flow step took, by flow and step.",
            ("flow", "step"),
        )

    def step_started(self, flow: str, step: str, kind: str, phase: Phase, attempt: int) -> None:
        if attempt == 1:
            if phase == "forward":
                self.steps_started.inc(flow, step)
        elif kind != "wait":  # a wait's later attempt is its run woken, not a retry
            self.step_retries.inc(flow, step)

    def run_recorded(self, flow: str, trigger: str) -> None:
        if self.links is not None:
            source, via = trigger_link(trigger)
            self.links.add("trigger", source, f"Flow/{flow}", via)

    def step_ended(
        self, flow: str, step: str, phase: Phase, attempt: int, seconds: float, outcome: Outcome
    ) -> None:
        reached = self.targets.get((flow, step, phase))
        if reached is not None and outcome != "waiting" and self.links is not None:
            kind, target = reached
            self.links.add(kind, f"Flow/{flow}", target, step, failed=outcome != "completed")
        if phase == "forward":
            self.step_duration.observe(seconds, flow, step)
            if outcome in ("completed", "failed"):
                self.steps_ended.inc(flow, step, outcome)
            if outcome == "completed":
                note_step(flow, step)  # a hop of the run's data subject, when it has one
        elif outcome in ("completed", "failed"):
            status = "compensated" if outcome == "completed" else "compensation_failed"
            self.steps_ended.inc(flow, step, status)


@dataclass
class RetryBatch:
    """What one bulk retry call did: the runs retried, those skipped and why, and how many
    runs the filter still picks."""

    retried: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    remaining: int = 0


class FlowRunner:
    """Starts, runs and recovers the flows of the runtime's current revision."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        recover_every: float = RECOVER_EVERY,
        lease_ttl: float | None = None,
    ) -> None:
        self.runtime = runtime
        self._limits_of: tuple[Estate, PayloadLimits] | None = None
        # The Systems' and Apis' lookups of the estate's revision: each keeps the TLS contexts
        # it built, so a call does not build its System's again.
        self._targets_of: tuple[Estate, Callable[[str], Target], Callable[[str], Target]] | None = (
            None
        )
        self.runs = FlowRuns(runtime.store.db, self._limits)
        self.metrics = FlowMetrics(runtime.metrics, runtime.links)
        self.metrics.targets = step_targets(runtime.snapshot.estate)
        self._recover_every = recover_every
        # One connection per System with a connector, for the query and write steps: a System
        # changed by a reload reconnects on its next use, one removed is closed at the reload.
        self.data = ConnectorTransport(self._system)
        # What each flow read and wrote through the connectors, written to the store every
        # 30 s and at close (the observed connections' connector calls).
        self.calls = CallFlusher(self.data.connections.calls, runtime.store)
        runtime.on_reload(self._reloaded)
        self.engine = FlowEngine(
            self.runs,
            self._spec,
            self._target,
            apis=self._api,
            data=self.data,
            publisher=self._publish,
            lease_ttl=lease_ttl if lease_ttl is not None else runtime.settings.lease_ttl,
            owner=f"flows-{runtime.node_id}" if runtime.node_id else None,
            observer=self.metrics,
        )
        self.metrics.in_flight.set_function(self._in_flight)
        self._counted_at = -WAITING_EVERY  # when the waiting runs were last counted
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._recovery: asyncio.Task[None] | None = None
        self.scheduler: FlowScheduler | None = None  # the schedule trigger, once started
        self.retention: RetentionJob | None = None  # the history's purge, once started
        self.triggers: FlowTriggers | None = None  # polling and queue triggers, once started
        self._publisher: Publisher | None = None
        self._closed = False
        # Record-level and job-level lineage (set by the server), and what each run recorded
        # here carries until it runs.
        self.lineage: NodeLineage | None = None
        self._carried: dict[str, RunLineage] = {}

    def publish_through(self, ingress: EventIngress) -> None:
        """Publish steps go through this ingress (the mesh's) from now on."""
        self._publisher = ingress_publisher(ingress)

    async def _publish(self, event_type: str, data: Any, event_id: str) -> None:
        if self._publisher is None:
            raise StepFailed("the event mesh has not started yet", retryable=True)
        await self._publisher(event_type, data, event_id)

    # --- what the estate says, read at each use: a reload changes new runs only -----------

    def _spec(self, name: str) -> FlowSpec:
        estate = self.runtime.snapshot.estate
        item = estate.get("Flow", name)
        if item is None or not isinstance(item.obj, Flow):
            hint = did_you_mean(name, estate.names("Flow"))
            raise NotFound(f"no Flow {name!r} in the estate" + (f" ({hint})" if hint else ""))
        return item.obj.spec

    def _limits(self) -> PayloadLimits:
        """The Platform's payload limits, looked up once per revision of the estate (each
        checkpoint asks)."""
        estate = self.runtime.snapshot.estate
        if self._limits_of is None or self._limits_of[0] is not estate:
            self._limits_of = (estate, limits_of(estate))
        return self._limits_of[1]

    def _targets(self) -> tuple[Callable[[str], Target], Callable[[str], Target]]:
        estate = self.runtime.snapshot.estate
        if self._targets_of is None or self._targets_of[0] is not estate:
            self._targets_of = (estate, system_targets(estate), api_targets(estate))
        return self._targets_of[1], self._targets_of[2]

    def _target(self, system: str) -> Target:
        return self._targets()[0](system)

    def _api(self, api: str) -> Target:
        return self._targets()[1](api)

    def _system(self, name: str) -> System:
        return system_lookup(self.runtime.snapshot.estate)(name)

    async def _reloaded(self, snapshot: Snapshot) -> None:
        self.metrics.targets = step_targets(snapshot.estate)
        await self.data.retain(snapshot.estate.names("System"))

    # --- starting -----------------------------------------------------------------------

    async def start_run(
        self,
        flow: str,
        input: Any,
        trigger: str = "manual",
        run_id: str | None = None,
        *,
        after: str | None = None,
    ) -> str:
        """Record a run and run it here in the background (once run ``after`` stopped running
        here, when given); its id once recorded."""
        if self._closed:  # a delivery failed so: the event is not acked, another node takes it
            raise StoreUnavailable("this node is stopping: it starts no flow runs")
        if after is not None:  # run later: recorded alone, claimed when its turn comes
            run_id = await self.engine.start(flow, input, trigger, run_id)
            self.metrics.started.inc(flow)
            if self.lineage is not None:
                self._carried[run_id] = self.lineage.started(flow, run_id, trigger, input)
            self._spawn(run_id, self._tasks.get(after))
            return run_id
        # Run at once: recorded with its first step's attempt, and run without a claim. Its
        # leading map or filter runs in the run's task, where its lineage is noted.
        made = await self.engine.record(flow, input, trigger, run_id, leading_steps=False)
        self.metrics.started.inc(flow)
        if self.lineage is not None:
            self._carried[made.run.id] = self.lineage.started(flow, made.run.id, trigger, input)
        self._spawn(made.run.id, made=made)
        return made.run.id

    async def begin_consumed(
        self, flow: str, input: Any, trigger: str, run_id: str
    ) -> Awaitable[object]:
        """Begin a consumed message's run, run here at once and recorded with its first
        checkpoint (:meth:`FlowEngine.defer`); what to await for its record, before the message
        is acked (else it comes again, and its first step is made again under the same key). A
        run recorded before is run here only if it is pending, as :meth:`start_run` does."""
        if self._closed:
            raise StoreUnavailable("this node is stopping: it starts no flow runs")
        made = await self.engine.defer(flow, input, trigger, run_id)
        self.metrics.started.inc(flow)
        if not isinstance(made, Deferred):  # recorded before, or as usual (its first step)
            self._spawn(made.run.id, made=made)
            done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            done.set_result(made.run.id)
            return done
        if self.lineage is not None:
            self._carried[run_id] = self.lineage.started(flow, run_id, trigger, input)
        if not self._spawn(run_id, made=made):  # stopping, or running here already
            self._carried.pop(run_id, None)
            made.recorded.set_exception(StoreUnavailable(f"flow run {run_id} did not start"))
        # A consumer stopping while it waits leaves the run to go on.
        return asyncio.shield(made.recorded)

    async def start_after(
        self, flow: str, input: Any, trigger: str, run_id: str, after: str | None
    ) -> str:
        """A batch trigger's run: recorded now, run once the previous batch's stopped running
        (on one node; a run waiting longer than its lease may be taken by another node)."""
        return await self.start_run(flow, input, trigger, run_id, after=after)

    async def finished(self, run_id: str) -> None:
        """Return once run ``run_id`` stopped running here (at once when it does not run
        here): ended, waiting, or left for recovery."""
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.wait([task])

    def refusal(self, flow: str) -> str | None:
        """Why runs of ``flow`` cannot start (the mesh keeps its Subscriptions' events in the
        bus meanwhile); None when they can."""
        try:
            check_runnable(flow, self._spec(flow))
        except InterlinkError as exc:
            return exc.message
        return None

    async def record(self, flow: str, run_id: str, trigger: str, input: Any) -> None:
        """The mesh's ``start_flow``: one run per (subscription, event), recorded once."""
        try:
            found = await asyncio.to_thread(self.runs.get, run_id)
        except NotFound:
            try:
                await self.start_run(flow, input, trigger, run_id)
            except PayloadTooLarge as exc:
                # Going round the bus would not make it smaller: the event is acked, and the
                # run it would have started is recorded failed, with why.
                run = await self.engine.refuse(flow, trigger, run_id, exc)
                self.metrics.started.inc(flow)
                self._ended(run)
            return
        # An event handed out again: its run exists; run it here only if it is pending.
        if found.status in PENDING:
            self._spawn(run_id)

    async def retry(self, run_id: str) -> FlowRun:
        """Run a failed or compensated run again (``RunControl.retry`` says from where)."""
        control = RunControl(self.runtime.store.db)
        run = await asyncio.to_thread(
            control.retry, run_id, self.engine.owner, self.engine.lease_ttl
        )
        self._spawn(run_id)
        return run

    async def retry_many(self, match: RunFilter, limit: int = RETRY_BATCH) -> RetryBatch:
        """Retry up to ``limit`` runs ``match`` picks, and run them here."""
        control = RunControl(self.runtime.store.db)
        ids = await asyncio.to_thread(control.matching, match, limit)
        batch = RetryBatch()
        for run_id in ids:
            try:
                await self.retry(run_id)
            except (RunConflict, NotFound) as exc:  # retried or cancelled meanwhile
                batch.skipped.append({"id": run_id, "reason": exc.message})
            else:
                batch.retried.append(run_id)
        batch.remaining = await asyncio.to_thread(control.count_matching, match)
        return batch

    def _in_flight(self) -> list[tuple[tuple[str, ...], float]]:
        # Every flow of the estate, so a flow with none shows 0 rather than nothing.
        counts = dict.fromkeys(self.runtime.snapshot.estate.names("Flow"), 0)
        for flow in self.engine.holding.values():
            counts[flow] = counts.get(flow, 0) + 1
        return [((flow,), float(count)) for flow, count in counts.items()]

    async def _count_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._counted_at < WAITING_EVERY:
            return
        self._counted_at = loop.time()
        counts = await asyncio.to_thread(RunControl(self.runtime.store.db).waiting)
        for flow in {*self.runtime.snapshot.estate.names("Flow"), *counts}:
            self.metrics.waiting.set(float(counts.get(flow, 0)), flow)

    async def _resumed(self, run_id: str, lineage: NodeLineage) -> RunLineage | None:
        """What a run recorded on another node (or before this one restarted) carries when it
        runs here, read from its record: its later hops are recorded as its earlier ones
        were. None when lineage wants nothing of runs."""
        if not lineage.follows_runs:
            return None
        run = await self.engine.loaded(await asyncio.to_thread(self.engine.runs.get, run_id))
        return lineage.resumed(run.flow, run.id, run.trigger, run.input)

    def _spawn(
        self,
        run_id: str,
        after: asyncio.Task[None] | None = None,
        *,
        made: Advanced | Deferred | None = None,
    ) -> bool:
        """Run ``run_id`` here in a task of its own; False when it runs here already or this
        node is stopping."""
        if run_id in self._tasks or self._closed:
            return False
        task = asyncio.get_running_loop().create_task(self._run(run_id, after, made))
        self._tasks[run_id] = task
        return True

    async def _run(
        self,
        run_id: str,
        after: asyncio.Task[None] | None = None,
        made: Advanced | Deferred | None = None,
    ) -> None:
        carried = self._carried.pop(run_id, None)
        try:
            if carried is None and made is None and self.lineage is not None:
                carried = await self._resumed(run_id, self.lineage)
            CURRENT_RUN.set(carried)  # this task's context: its steps and writes see the run
            if after is not None:
                await asyncio.wait([after])
            if made is not None:  # just recorded by this engine (FlowEngine.record)
                run = await self.engine.run_recorded(made)
            else:
                run = await self.engine.run(run_id)
            if run.status == "waiting":  # the count is stale: the next round counts again
                self._counted_at = -WAITING_EVERY
            self._ended(run)
            if self.lineage is not None and run.owner is None:
                self.lineage.ended(run.flow, run.id, run.status, carried)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The store away, most likely: the lease lapses and recovery takes the run again.
            log.exception("flow run %s stopped", run_id)
        finally:
            self._tasks.pop(run_id, None)

    def _ended(self, run: FlowRun) -> None:
        if run.status not in _ENDS or run.finished_at is None or run.owner is not None:
            return  # still pending: held by another node, or this one lost it
        self.metrics.ended.inc(run.flow, run.status)
        self.metrics.duration.observe((run.finished_at - run.started_at).total_seconds(), run.flow)

    # --- recovery and life cycle ----------------------------------------------------------

    def start(self) -> None:
        self._recovery = asyncio.get_running_loop().create_task(self._recover())
        self.calls.start()

    async def start_schedules(self) -> None:
        """Start the schedule trigger (on one node of a cluster at a time)."""
        self.scheduler = await start_scheduler(self.runtime, self.engine)

    async def start_retention(self) -> None:
        """Start purging the run history past its retention (one node of a cluster)."""
        self.retention = await start_retention(self.runtime)

    def declared_triggers(self, snapshot: Snapshot) -> list[TriggerSource]:
        """The poll triggers ``snapshot``'s Flows declare, their tables read through this
        node's connections (the query and write steps' own)."""
        return declared_triggers(snapshot.estate, self.data.connections)

    async def start_triggers(self, declare: Declare | None = None) -> None:
        """Start the polling and queue triggers ``declare`` wants of each revision (each on
        one node of a cluster at a time); their runs are recorded, then run here. Without
        ``declare``, code applies its list: ``runner.triggers.apply([...])``."""
        self.triggers = await start_triggers(
            self.runtime, self.start_run, declare, in_order=self, begin=self.begin_consumed
        )

    async def _recover(self) -> None:
        failing = False
        while True:
            try:
                ids = await asyncio.to_thread(self.runs.claimable)
            except Exception as exc:  # the store away: said once, tried again every round
                if not failing:
                    log.warning("looking for flow runs to resume failed: %s", exc)
                failing = True
                ids = []
            else:
                if failing:
                    log.info("looking for flow runs to resume works again")
                failing = False
            for run_id in ids:
                if run_id not in self._tasks:
                    log.info("resuming flow run %s", run_id)
                    self._spawn(run_id)
                    self._counted_at = -WAITING_EVERY  # maybe a waiting run woken
            if not failing:
                try:
                    await self._count_waiting()
                except Exception as exc:  # a gauge left as it was; said, not fatal
                    log.debug("counting the waiting flow runs failed: %s", exc)
            await asyncio.sleep(self._recover_every)

    async def close(self) -> None:
        """Stop: runs in flight keep their checkpoint and resume on a node after the lease."""
        self._closed = True
        if self.triggers is not None:
            await self.triggers.close()
            self.triggers = None
        if self.scheduler is not None:
            await self.scheduler.close()
            self.scheduler = None
        if self.retention is not None:
            await self.retention.close()
            self.retention = None
        await cancel_and_wait([self._recovery, *self._tasks.values()])
        self._tasks.clear()
        await self.engine.aclose()
        await self.calls.stop()
        control = RunControl(self.runtime.store.db)
        try:
            released = await asyncio.to_thread(control.release, self.engine.owner)
        except Exception as exc:  # the store away: the leases lapse by themselves
            log.warning("could not give up the leases of flow runs: %s", exc)
            return
        if released:
            log.info("%d flow run(s) in flight left to resume on another node", released)
