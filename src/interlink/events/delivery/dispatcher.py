"""One subscription's delivery: an ingest loop, a dispatch loop and a completion writer.

- **ingest** pulls the subscription's events from the bus, filters them, enqueues the ones
  that match and acks the whole batch. It pauses while the queue holds ``high_water`` rows, so
  a dead receiver leaves its backlog in the bus rather than copying it.
- **dispatch** takes due jobs from the queue and sends each in its own task, never more than
  ``maxInFlight`` at once. It sleeps until the next job is due, or until something changes
  (events enqueued, a send finished, a dead letter retried).
- **completion** writes finished attempts back in batches. A job stays "busy" (excluded from
  ``due``) until its outcome is written, so it is never sent twice by this process.
- **stats** refreshes the gauges and sweeps the subscription's tombstones (delivered rows kept
  by key for ``done_retention``, so an event the bus hands out again is not sent again).

Under a lease (several nodes), enqueue and completion are fenced in the store: when one is
refused because another node took the lease, the worker holds still and the keeper stops it.

Every subscription has its own tasks and its own HTTP connections, so a receiver that hangs
holds up only its own subscription, and then only up to its ``maxInFlight``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from interlink.errors import InterlinkError, LeaseLost, UnknownConsumer
from interlink.events.bus import Bus, Message
from interlink.events.delivery.attempt import Attempt, Sender
from interlink.events.delivery.clock import Clock
from interlink.events.delivery.metrics import DeliveryMetrics
from interlink.events.delivery.plan import DeliveryPlan
from interlink.events.delivery.queue import (
    RESPONSE_LIMIT,
    DeliveryQueue,
    Disabled,
    Fence,
    Job,
    JobKey,
    Outcome,
)
from interlink.events.delivery.schedule import MAX_RETRY_AFTER, retry_delay
from interlink.events.tracing import event_traceparent
from interlink.leases.keeper import HeldLease
from interlink.observe import signals, tracing
from interlink.observe.lineage import LineageRecorder
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.events.delivery")

_IDLE: Final = 3600.0  # sleep when nothing is due and polling is off
_TAKE_GRACE: Final = 5.0  # seconds a stopping worker gives the batch it is queueing
_SWEEP_BATCH: Final = 2000  # tombstones removed per statement: short write locks


@dataclass(frozen=True)
class EngineSettings:
    """Tuning the delivery engine; the defaults suit one process on a small machine."""

    ingest_batch: int = 500  # events per bus pull
    pull_timeout: float = 1.0  # seconds a pull waits for the first event
    dispatch_batch: int = 500  # jobs per queue read
    # Seconds between queue reads when idle: rows another process changed (a dead letter
    # retried from the CLI) are seen within this. 0 turns polling off.
    poll_interval: float = 5.0
    high_water: int = 10_000  # queued rows per subscription before ingest pauses
    stop_grace: float = 5.0  # seconds open attempts get to finish on stop
    stats_interval: float = 5.0  # seconds between depth and lag refreshes
    secret_refresh: float = 60.0  # seconds between reads of a signing secret
    response_limit: int = RESPONSE_LIMIT  # bytes of a failed response kept
    retry_after_max: float = MAX_RETRY_AFTER  # longest Retry-After honoured
    error_pause: float = 1.0  # real seconds to wait after the bus or the store failed
    # Seconds a delivered row's key is kept (a tombstone) so that the bus handing the event
    # out again (its node died after enqueueing it, before acking) adds nothing. Comfortably
    # longer than the bus's ack wait and redelivery backoff plus the lease TTL.
    done_retention: float = 300.0


GoneCallback = Callable[["SubscriptionWorker", Attempt], Awaitable[None]]
# Makes a subscription's consumer again when the bus says it is missing; raises when it cannot.
MissingCallback = Callable[[str], Awaitable[None]]


class SubscriptionWorker:
    def __init__(
        self,
        plan: DeliveryPlan,
        bus: Bus,
        queue: DeliveryQueue,
        sender: Sender,
        *,
        clock: Clock,
        metrics: DeliveryMetrics,
        settings: EngineSettings,
        rng: random.Random,
        on_gone: GoneCallback,
        disabled: Disabled | None = None,
        lease: HeldLease | None = None,
        on_lease_lost: Callable[[], None] | None = None,
        on_missing: MissingCallback | None = None,
        lineage: LineageRecorder | None = None,
    ) -> None:
        self.plan = plan
        self.lineage = lineage  # records the deliveries of events that carry a subject
        self.bus = bus
        self.queue = queue
        self.sender = sender
        self.clock = clock
        self.metrics = metrics
        self.settings = settings
        self.rng = rng
        self._on_gone = on_gone
        self.disabled = disabled
        # The lease this node delivers the subscription under: checked before each pull and
        # each batch of sends, and its token fences enqueue and completion in the store.
        self._lease = lease
        self._lease_refused = False  # a fenced write was refused: another node holds it
        self._on_lease_lost = on_lease_lost
        self._on_missing = on_missing
        # An ordered subscription taken over from another node first waits until everything
        # the bus handed out before (maybe to the node that died) is in the queue, so no later
        # event of a key overtakes an earlier one still held by the bus.
        self._settle_to: int | None = -1 if lease is not None and plan.ordered else None
        self.depth = 0  # pending rows, kept up to date here and resynced by the stats loop
        self._sending: dict[JobKey, Job] = {}
        self._completing: set[JobKey] = set()
        self._done: list[tuple[Job, Attempt, Outcome, float]] = []
        self._paused_until: datetime | None = None
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._flush_needed = asyncio.Event()
        self._stopping = False  # the completion writer's last round
        self._closing = False  # stop() began: no loop starts another round
        self._loops: list[asyncio.Task[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._taking: asyncio.Future[int] | None = None  # the batch being queued and acked
        self._failing: set[str] = set()  # loops whose last round failed, to log once a streak

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def in_flight(self) -> int:
        return len(self._sending)

    @property
    def busy(self) -> int:
        """Jobs sent and not yet written back."""
        return len(self._sending) + len(self._completing)

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.depth = await self.queue.depth(self.name)
        self._room.set()
        self._loops = [
            self._spawn_loop(self._ingest, "ingest"),
            self._spawn_loop(self._dispatch, "dispatch"),
            self._spawn_loop(self._stats, "stats"),
        ]
        self._flusher = self._spawn_loop(self._flush, "completion")

    def _spawn_loop(
        self, loop: Callable[[], Coroutine[Any, Any, None]], role: str
    ) -> asyncio.Task[None]:
        return asyncio.create_task(self._guarded(loop, role), name=f"delivery {role} {self.name}")

    async def _guarded(self, loop: Callable[[], Coroutine[Any, Any, None]], role: str) -> None:
        """Run a loop until it returns; a bug that escapes it is logged and the loop restarted,
        so one bad moment cannot silently stop a subscription."""
        while not self._closing:
            try:
                await loop()
            except Exception:
                log.exception("subscription %s: %s loop failed; restarting it", self.name, role)
                await asyncio.sleep(self.settings.error_pause)
                continue
            return

    def _fenced(self) -> bool:
        held = self._lease
        return held is not None and (self._lease_refused or not held.valid())

    def _fence(self) -> Fence | None:
        held = self._lease
        return None if held is None else Fence(held.name, held.lease.owner, held.token)

    def _refused(self, exc: LeaseLost) -> None:
        """The store refused a fenced write: stop taking work and tell the keeper, once."""
        if self._lease_refused:
            return
        self._lease_refused = True
        log.warning("subscription %s: %s; it stops here", self.name, exc.message)
        if self._on_lease_lost is not None:
            self._on_lease_lost()

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking work, give open attempts ``grace`` (``stop_grace`` unless given) to
        finish, write what finished.

        An attempt cut off here is not written: its row stays pending with the same attempt
        count and is sent again after a restart (at least once, never lost).
        """
        self._closing = True
        await cancel_and_wait(self._loops)
        taking = self._taking
        if taking is not None and not taking.done():
            await asyncio.wait({taking}, timeout=max(self.settings.stop_grace, _TAKE_GRACE))
        await cancel_and_wait([taking])
        if self._sends:
            wait = self.settings.stop_grace if grace is None else grace
            if wait > 0:
                await asyncio.wait(set(self._sends), timeout=wait)
            await cancel_and_wait(list(self._sends))
        self._stopping = True
        self._flush_needed.set()
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self.sender.aclose()

    def wake(self) -> None:
        """Look at the queue now: rows were added or made due."""
        self._wake.set()

    def set_disabled(self, disabled: Disabled | None) -> None:
        self.disabled = disabled
        self._wake.set()

    # --- ingest ----------------------------------------------------------------------------

    async def _ingest(self) -> None:
        plan, settings = self.plan, self.settings
        # A batch pulled and not yet acked: when the queue fails, the same batch is tried
        # again, since the bus hands it out anew only after its ack wait.
        messages: list[Message] = []
        chosen: list[Message] = []
        added = 0
        while not self._closing:
            if not messages:
                if self._fenced():
                    await asyncio.sleep(settings.error_pause)
                    continue
                if self.depth >= settings.high_water:
                    self._room.clear()
                    await self._room.wait()
                    continue
                messages = await self._pull()
                if not messages:
                    continue
                if plan.filter.matches_all:
                    chosen = messages
                else:
                    chosen = [m for m in messages if plan.filter.matches_body(m.body)]
            # Shielded: a worker stopped mid-batch still acks what it queued, so the bus does
            # not hand it out again (to another node, after the ack wait) once delivered.
            self._taking = asyncio.ensure_future(self._take(messages, chosen))
            try:
                added += await asyncio.shield(self._taking)
            except LeaseLost as exc:
                # Not acked: the bus hands the batch out again, to the lease's new holder.
                self._refused(exc)
                messages, chosen, added = [], [], 0
                continue
            except InterlinkError as exc:
                with contextlib.suppress(InterlinkError):  # held for the retry, not handed out
                    await self.bus.extend(plan.name, [m.seq for m in messages])
                await self._failed("ingest", exc)
                continue
            self._recovered("ingest")
            if skipped := len(messages) - len(chosen):
                self.metrics.filtered.inc(plan.name, amount=skipped)
            if added:
                self.depth += added
                self._wake.set()
            messages, chosen, added = [], [], 0

    async def _take(self, messages: list[Message], chosen: list[Message]) -> int:
        """Queue the chosen events of a batch, then ack all of it; how many rows were new."""
        plan = self.plan
        added = 0
        if chosen:
            added = await self.queue.enqueue(
                plan.name, chosen, self.clock.now(), fence=self._fence()
            )
        # Acked only once enqueued: a crash in between hands the events out again, and
        # enqueueing them again adds nothing, even once delivered (their tombstones remain).
        await self.bus.ack(plan.name, [m.seq for m in messages])
        last = max(m.seq for m in messages)
        await self.queue.advance(plan.name, plan.event, last, self.clock.now())
        return added

    async def _pull(self) -> list[Message]:
        """The next batch from the bus; none when it failed (and was waited out)."""
        plan, settings = self.plan, self.settings
        try:
            return await self.bus.pull(plan.name, settings.ingest_batch, settings.pull_timeout)
        except UnknownConsumer as exc:
            if self._on_missing is None:
                await self._failed("ingest", exc)
                return []
            try:
                await self._on_missing(plan.name)
            except InterlinkError as again:
                await self._failed("ingest", again)
        except InterlinkError as exc:
            await self._failed("ingest", exc)
        return []

    # --- dispatch --------------------------------------------------------------------------

    def _busy_keys(self) -> list[JobKey]:
        return [*self._sending, *self._completing]

    async def _dispatch(self) -> None:
        plan, settings = self.plan, self.settings
        while not self._closing:
            self._wake.clear()
            if await self._held_back():
                continue
            now = self.clock.now()
            if self._paused_until is not None:
                if now < self._paused_until:
                    await self._sleep((self._paused_until - now).total_seconds())
                    continue
                self._paused_until = None
            free = plan.max_in_flight - len(self._sending)
            if free <= 0:
                await self._wake.wait()
                continue
            want = min(free, settings.dispatch_batch)
            try:
                busy = self._busy_keys()
                jobs, following = await self.queue.take(
                    plan.name, now, want, busy, ordered=plan.ordered
                )
                for job in jobs:
                    self._send_soon(job)
                if len(jobs) == want:
                    continue
            except InterlinkError as exc:
                await self._failed("dispatch", exc)
                continue
            self._recovered("dispatch")
            delay = settings.poll_interval if settings.poll_interval > 0 else _IDLE
            if following is not None:
                delay = min(delay, (following - self.clock.now()).total_seconds())
            if delay > 0:
                await self._sleep(delay)

    async def _held_back(self) -> bool:
        """Wait, and say so, while this worker may not send: its lease is lost (it is being
        stopped), the subscription is disabled, or a takeover has not settled yet."""
        if self._fenced():
            await asyncio.sleep(self.settings.error_pause)
            return True
        if self.disabled is not None:
            await self._wake.wait()
            return True
        if self._settle_to is not None and not await self._settled():
            await asyncio.sleep(self.settings.error_pause)
            return True
        return False

    async def _settled(self) -> bool:
        """True once the bus has everything it handed out before this worker started acked."""
        try:
            handed, acked = await self.bus.handed_out(self.name)
        except InterlinkError as exc:
            await self._failed("dispatch", exc)
            return False
        if self._settle_to == -1:
            self._settle_to = handed
        assert self._settle_to is not None
        if acked < self._settle_to:
            return False
        self._settle_to = None
        return True

    async def _sleep(self, seconds: float) -> None:
        """Sleep on the engine's clock, cut short by ``wake``."""
        if self._wake.is_set():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    def _send_soon(self, job: Job) -> None:
        self._sending[job.key] = job
        task = asyncio.create_task(self._send(job))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            traced = tracing.current()
            if traced is None:
                attempt = await self.sender.send(job)
            else:
                attempt = await self._traced_send(traced, job)
        except Exception as exc:  # senders return failures; this is a bug, not an outcome
            log.exception("subscription %s: sending %s failed", self.name, job.key)
            attempt = Attempt(False, error=f"{type(exc).__name__}: {exc}")
        except asyncio.CancelledError:
            self._sending.pop(job.key, None)
            raise
        elapsed = loop.time() - started
        now = self.clock.now()
        outcome = self._outcome(job, attempt, now)
        del self._sending[job.key]
        self._completing.add(job.key)
        self._done.append((job, attempt, outcome, elapsed))
        self._flush_needed.set()
        if attempt.retry_after is not None:
            # The receiver is throttling: hold the whole subscription, not just this job.
            until = now + timedelta(seconds=attempt.retry_after)
            if self._paused_until is None or until > self._paused_until:
                self._paused_until = until
        if attempt.gone and self.disabled is None:
            await self._on_gone(self, attempt)
        self._wake.set()

    async def _traced_send(self, traced: tracing.Tracing, job: Job) -> Attempt:
        """One attempt as a span under the event's trace context (events/tracing.py)."""
        parent = event_traceparent(job.body)
        context = tracing.parse_traceparent(parent)
        if context is not None and not context.sampled:
            # A publish left unrecorded: the receiver is told its context as it is, by a
            # sender that reads it from the event itself (a webhook) without it made current.
            if not self.sender.needs_trace_context:
                return await self.sender.send(job)
            with traced.carrying(context):
                return await self.sender.send(job)
        name = f"deliver {self.name}"
        attributes: dict[str, str | int | float | bool] = {
            "interlink.subscription": self.name,
            "messaging.message.id": job.event_id,
            "interlink.attempt": job.attempt + 1,
        }
        with traced.span(name, "consumer", parent=context, attributes=attributes) as span:
            attempt = await self.sender.send(job)
            if attempt.status is not None:
                span.set("http.response.status_code", attempt.status)
            if not attempt.ok:
                span.fail(attempt.error or "not delivered")
        return attempt

    def _outcome(self, job: Job, attempt: Attempt, now: datetime) -> Outcome:
        plan = self.plan
        made = job.attempt + 1
        fields: dict[str, Any] = {
            "status": attempt.status,
            "error": attempt.error,
            "response": attempt.response,
        }
        if attempt.ok:
            return Outcome(job.key, "delivered", made, status=attempt.status)
        if attempt.gone:
            # Not the job's fault: it waits, uncounted, until the subscription is enabled.
            return Outcome(job.key, "retry", job.attempt, now, **fields)
        if made > len(plan.schedule):
            return Outcome(job.key, "dead" if plan.dead_letter else "dropped", made, **fields)
        delay = attempt.retry_after
        if delay is None:
            delay = retry_delay(made, plan.schedule, plan.jitter, self.rng) or 0.0
        return Outcome(job.key, "retry", made, now + timedelta(seconds=delay), **fields)

    # --- completion ------------------------------------------------------------------------

    async def _flush(self) -> None:
        while True:
            if not self._stopping:
                await self._flush_needed.wait()
            self._flush_needed.clear()
            batch, self._done = self._done, []
            if not batch:
                if self._stopping:
                    return
                continue
            try:
                await self.queue.complete(
                    [item[2] for item in batch], self.clock.now(), fence=self._fence()
                )
            except LeaseLost as exc:
                # The rows are the new holder's: it sends them again (at least once).
                self._refused(exc)
                for job, *_ in batch:
                    self._completing.discard(job.key)
                log.warning(
                    "subscription %s: %d outcomes not written; the node holding it now sends "
                    "them again",
                    self.name,
                    len(batch),
                )
                continue
            except Exception as exc:  # keep the batch whatever failed: its jobs stay busy
                self._done = batch + self._done
                await self._failed("completion", exc)
                if self._stopping and self._failing:
                    log.error(
                        "subscription %s: %d outcomes not written; they are sent again",
                        self.name,
                        len(self._done),
                    )
                    return
                self._flush_needed.set()
                continue
            self._recovered("completion")
            self._account(batch)
            self._wake.set()

    def _account(self, batch: list[tuple[Job, Attempt, Outcome, float]]) -> None:
        name, metrics = self.name, self.metrics
        now = self.clock.now()
        finished = 0
        for job, attempt, outcome, elapsed in batch:
            self._completing.discard(job.key)
            metrics.attempt_duration.observe(elapsed, name)
            result = outcome.result
            signals.delivered(name, result == "delivered", elapsed)
            metrics.attempted(name, self.plan.event, result)
            if result == "delivered":
                metrics.delivered.inc(name)
                if self.lineage is not None:
                    target = self.plan.target.partition(" ")[0]  # System/x, without the path
                    self.lineage.delivered(
                        self.plan.event, name, target, job.event_id, job.body, job.ordering_key
                    )
                latency = (now - job.published_at).total_seconds()
                metrics.latency.observe(max(latency, 0.0), name)
                finished += 1
                continue
            metrics.failed.inc(name)
            if result == "retry":
                if not attempt.gone:
                    metrics.retries.inc(name)
                continue
            finished += 1
            if result == "dead":
                metrics.dead.inc(name)
                log.warning(
                    "subscription %s: event %s dead-lettered after %d attempts (last: %s)",
                    name,
                    job.event_id,
                    outcome.attempt,
                    attempt.error,
                )
            else:
                metrics.dropped.inc(name)
                log.warning(
                    "subscription %s: event %s dropped after %d attempts (last: %s); "
                    "deadLetter is off",
                    name,
                    job.event_id,
                    outcome.attempt,
                    attempt.error,
                )
        if finished:
            self.depth = max(self.depth - finished, 0)
            if self.depth < self.settings.high_water:
                self._room.set()

    # --- stats -----------------------------------------------------------------------------

    async def _stats(self) -> None:
        while not self._closing:
            with contextlib.suppress(InterlinkError):
                await self.refresh_stats()
                await self.sweep()
            await self.clock.sleep(self.settings.stats_interval)

    async def sweep(self) -> int:
        """Remove the tombstones older than ``done_retention``; how many went."""
        before = self.clock.now() - timedelta(seconds=self.settings.done_retention)
        swept = 0
        while True:
            count = await self.queue.sweep(self.name, before, _SWEEP_BATCH)
            swept += count
            if count < _SWEEP_BATCH:
                return swept

    async def refresh_stats(self) -> None:
        """Read depth, dead letters and bus lag into the gauges."""
        name, metrics = self.name, self.metrics
        depth = await self.queue.depth(name)
        dead = await self.queue.dlq_depth(name)
        unread = await self.bus.pending(name)
        self.depth = depth
        if depth < self.settings.high_water:
            self._room.set()
        metrics.queue_depth.set(depth, name)
        metrics.dlq_depth.set(dead, name)
        metrics.lag.set(unread + depth, name)

    # --- failures of the bus or the store ----------------------------------------------------

    async def _failed(self, loop_name: str, exc: Exception) -> None:
        if loop_name not in self._failing:
            self._failing.add(loop_name)
            log.error(
                "subscription %s: %s failed: %s; retrying every %gs",
                self.name,
                loop_name,
                exc.message if isinstance(exc, InterlinkError) else repr(exc),
                self.settings.error_pause,
            )
        pause = exc.retry_after if isinstance(exc, InterlinkError) else None
        await asyncio.sleep(pause or self.settings.error_pause)

    def _recovered(self, loop_name: str) -> None:
        if loop_name in self._failing:
            self._failing.discard(loop_name)
            log.info("subscription %s: %s works again", self.name, loop_name)
