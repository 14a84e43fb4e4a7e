"""The delivery engine: every Subscription of the estate, delivered.

``DeliveryEngine`` compiles the estate's subscriptions, starts a :class:`SubscriptionWorker`
for each target and offers what operators need on top: enabling a subscription a receiver
switched off with 410, the dead-letter queue, replay, metrics and lag. A flow target's sender
records one run per event through the ``start_flow`` the process that runs flows injects
(``flowsender.py``); without one, or while the flow cannot start, such a subscription fails to
start and says why (its events wait in the bus).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Final, Literal, Self

from interlink.errors import ConfigError, NotFound
from interlink.estate.model import Estate
from interlink.estate.references import SecretSource
from interlink.events.bus import Bus
from interlink.events.delivery.attempt import Attempt, Sender
from interlink.events.delivery.clock import Clock, SystemClock
from interlink.events.delivery.dispatcher import EngineSettings, SubscriptionWorker
from interlink.events.delivery.flowsender import FlowSender, FlowStarter
from interlink.events.delivery.handlers import Handler, HandlerSender, load_handler
from interlink.events.delivery.metrics import DeliveryMetrics, SubscriptionMetrics
from interlink.events.delivery.notify import LogNotifier, Notice, Notifier
from interlink.events.delivery.plan import DeliveryPlan, compile_plans
from interlink.events.delivery.queue import DeliveryQueue, Disabled, JobKey, keys_of
from interlink.events.delivery.replay import Progress, ReplayProgress, replay
from interlink.events.delivery.webhook import (
    ClientFactory,
    ClientLimits,
    SigningKeys,
    WebhookSender,
    default_client,
)
from interlink.leases.keeper import HeldLease, LeaseKeeper
from interlink.observe.lineage import LineageRecorder
from interlink.observe.links import LinkCounts
from interlink.observe.metrics import Registry

log = logging.getLogger("interlink.events.delivery")

State = Literal["running", "disabled", "failed", "stopped", "elsewhere"]

LEASE_PREFIX: Final = "subscription:"


def lease_name(subscription: str) -> str:
    """The lease that owns a subscription's deliveries when several nodes share the work."""
    return LEASE_PREFIX + subscription


@dataclass(frozen=True)
class SubscriptionStatus:
    name: str
    state: State
    target: str
    reason: str | None = None  # why it is disabled or failed
    in_flight: int = 0
    queued: int = 0  # pending rows, as last counted


class DeliveryEngine:
    """Delivers every webhook and handler subscription of ``estate``.

    ``handlers`` maps handler names to callables ahead of the ``interlink.handlers`` entry
    points (for embedding and tests); ``client_factory`` makes each subscription's HTTP client.

    With a ``keeper`` (several nodes on one store and bus), a subscription is delivered only
    while this node holds its lease (``subscription:<name>``): the worker starts when the lease
    is taken, checks it before each pull and each batch it sends, and stops when it is lost
    (at once) or given up (after the stop grace); its enqueues and completions are fenced by
    the lease's token in the store, and one refused stops it like a lost lease. Without one,
    every subscription is delivered here.
    """

    def __init__(
        self,
        bus: Bus,
        queue: DeliveryQueue,
        estate: Estate,
        *,
        secrets: SecretSource | None = None,
        clock: Clock | None = None,
        client_factory: ClientFactory = default_client,
        notifier: Notifier | None = None,
        registry: Registry | None = None,
        handlers: Mapping[str, Handler] | None = None,
        rng: random.Random | None = None,
        settings: EngineSettings | None = None,
        keeper: LeaseKeeper | None = None,
        remake_consumer: Callable[[str], Awaitable[None]] | None = None,
        start_flow: FlowStarter | None = None,
        links: LinkCounts | None = None,
        lineage: LineageRecorder | None = None,
    ) -> None:
        self.bus = bus
        self.lineage = lineage
        self.start_flow = start_flow
        self.keeper = keeper
        self._remake_consumer = remake_consumer
        # Subscriptions that cannot be delivered now, and why (a consumer missing on the bus);
        # the process is not ready while there is one.
        self.broken: dict[str, str] = {}
        self.queue = queue
        self.estate = estate
        self.secrets = secrets or SecretSource()
        self.clock: Clock = clock or SystemClock()
        self.client_factory = client_factory
        self.notifier: Notifier = notifier if notifier is not None else LogNotifier()
        self.metrics = DeliveryMetrics(registry if registry is not None else Registry(), links)
        self.handlers = dict(handlers or {})
        self.rng = rng or random.Random()
        self.settings = settings or EngineSettings()
        self.plans: dict[str, DeliveryPlan] = {}
        self.workers: dict[str, SubscriptionWorker] = {}
        self._status: dict[str, SubscriptionStatus] = {}
        self._claimed: dict[str, DeliveryPlan] = {}  # plans waiting for or holding a lease
        self._started = False

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await self._apply(self.estate)
        log.info(
            "delivery engine started: %d subscription(s) delivering, %d not",
            len(self.workers),
            len(self._status),
        )

    async def reload(self, estate: Estate) -> None:
        """Deliver ``estate``'s subscriptions from now on: new ones start, removed ones stop,
        changed ones restart (their open attempts get the stop grace period); the others run
        on undisturbed."""
        self.estate = estate
        if self._started:
            await self._apply(estate)

    async def _apply(self, estate: Estate) -> None:
        plans, problems = compile_plans(estate, self.secrets)
        wanted = {plan.name: plan for plan in plans}
        for name, claimed in list(self._claimed.items()):
            plan = wanted.get(name)
            if plan is None or plan.fingerprint != claimed.fingerprint:
                await self._unclaim(name)
        for name, worker in list(self.workers.items()):
            plan = wanted.get(name)
            if plan is None or plan.fingerprint != worker.plan.fingerprint:
                del self.workers[name]
                await worker.stop()
        self._status.clear()
        self.plans = {}
        for problem in problems:
            log.error("subscription %s is not delivered: %s", problem.subscription, problem.message)
            self._status[problem.subscription] = SubscriptionStatus(
                problem.subscription, "failed", "-", problem.message
            )
        disabled = await self.queue.disabled()
        for plan in plans:
            self.plans[plan.name] = plan
            if plan.name in self.workers or plan.name in self._claimed:
                continue  # unchanged and running (or claimed)
            if self.keeper is not None:
                self._claim(plan)
                continue
            made = self._worker(plan, disabled.get(plan.name))
            if made is not None:
                await made.start()
                self.workers[plan.name] = made

    def _worker(
        self, plan: DeliveryPlan, disabled: Disabled | None, held: HeldLease | None = None
    ) -> SubscriptionWorker | None:
        try:
            sender = self._sender(plan)
        except ConfigError as exc:
            log.error("subscription %s is not delivered: %s", plan.name, exc.message)
            self._status[plan.name] = SubscriptionStatus(
                plan.name, "failed", plan.target, exc.message
            )
            return None
        worker = SubscriptionWorker(
            plan,
            self.bus,
            self.queue,
            sender,
            clock=self.clock,
            metrics=self.metrics,
            settings=self.settings,
            rng=self.rng,
            on_gone=self._gone,
            disabled=disabled,
            lease=held,
            on_lease_lost=self._lease_refused(plan.name) if held is not None else None,
            on_missing=self._missing if self._remake_consumer is not None else None,
            lineage=self.lineage,
        )
        if worker.disabled is not None:
            log.warning(
                "subscription %s stays disabled since %s: %s",
                plan.name,
                worker.disabled.at.isoformat(),
                worker.disabled.reason,
            )
        return worker

    def _lease_refused(self, name: str) -> Callable[[], None]:
        def refused() -> None:
            if self.keeper is not None:
                self.keeper.refused(lease_name(name))

        return refused

    async def _missing(self, name: str) -> None:
        """The bus lost the subscription's consumer (deleted by hand, or by a node on another
        revision): make it again where the queue's position says delivery got to."""
        assert self._remake_consumer is not None
        self.broken[name] = "its consumer is missing on the event bus"
        log.error("subscription %s: its consumer is missing on the bus; making it again", name)
        await self._remake_consumer(name)
        self.broken.pop(name, None)
        log.warning("subscription %s: its consumer was made again", name)

    # --- leases: which node delivers -----------------------------------------------------------

    def _claim(self, plan: DeliveryPlan) -> None:
        assert self.keeper is not None
        self._claimed[plan.name] = plan

        async def start(held: HeldLease) -> None:
            current = self._claimed.get(plan.name)
            if current is None or not held.valid() or not self._started:
                return
            disabled = (await self.queue.disabled()).get(plan.name)
            worker = self._worker(current, disabled, held)
            if worker is None or not held.valid():
                return
            await worker.start()
            self.workers[plan.name] = worker
            self._status.pop(plan.name, None)

        async def stop(_: str, lost: bool) -> None:
            worker = self.workers.pop(plan.name, None)
            if worker is not None:
                # A lost lease is another node's now: cut open attempts at once.
                await worker.stop(grace=0.0 if lost else None)

        self.keeper.claim(lease_name(plan.name), start, stop)

    async def _unclaim(self, name: str) -> None:
        self._claimed.pop(name, None)
        if self.keeper is not None:
            await self.keeper.unclaim(lease_name(name))
        worker = self.workers.pop(name, None)
        if worker is not None:
            await worker.stop()

    def _sender(self, plan: DeliveryPlan) -> Sender:
        if plan.kind == "flow":
            assert plan.flow is not None
            if self.start_flow is None:
                raise ConfigError(f"{plan.target} cannot run here: this process runs no flows")
            refusal = self.start_flow.refusal(plan.flow)
            if refusal is not None:
                raise ConfigError(refusal)
            return FlowSender(plan.name, plan.flow, self.start_flow)
        if plan.kind == "handler":
            assert plan.handler is not None
            handler = self.handlers.get(plan.handler) or load_handler(plan.handler)
            return HandlerSender(plan.handler, handler, plan.timeout)
        assert plan.url is not None
        keys = None
        if plan.secret is not None:
            keys = SigningKeys(plan.name, plan.secret, self.secrets, self.settings.secret_refresh)
        else:
            log.warning("subscription %s has no secret: its webhooks go unsigned", plan.name)
        client = self.client_factory(
            ClientLimits(plan.max_in_flight, self.settings.response_limit + 1)
        )
        return WebhookSender(
            plan.url,
            client,
            self.clock,
            keys=keys,
            timeout=plan.timeout,
            response_limit=self.settings.response_limit,
            retry_after_max=self.settings.retry_after_max,
            credential=plan.credential,
        )

    async def stop(self) -> None:
        """Stop every subscription; attempts still open after the grace period are sent again
        after a restart."""
        self._started = False  # a lease taken from now on starts nothing
        for name in list(self._claimed):
            await self._unclaim(name)
        workers, self.workers = list(self.workers.values()), {}
        for worker in workers:
            await worker.stop()
            self._status[worker.name] = SubscriptionStatus(
                worker.name, "stopped", worker.plan.target
            )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- 410 Gone, enabling and disabling ------------------------------------------------------

    async def _gone(self, worker: SubscriptionWorker, attempt: Attempt) -> None:
        plan = worker.plan
        now = self.clock.now()
        reason = f"{plan.target} answered 410 Gone"
        worker.set_disabled(Disabled(plan.name, now, reason))  # first: no more sends
        try:
            await self.queue.disable(plan.name, reason, now)
        except Exception:
            log.exception("subscription %s: could not record that it is disabled", plan.name)
        log.warning("subscription %s disabled: %s", plan.name, reason)
        notice = Notice(
            kind="subscription-disabled",
            subject=f"Subscription/{plan.name}",
            team=plan.owner,
            channels=plan.channels,
            summary=(
                f"Deliveries of {plan.event} to {plan.target} have stopped: the receiver "
                "answered 410 Gone, which says it will not take them any more. Events keep "
                "queueing; enable the subscription again once the receiver is back."
            ),
            at=now,
            details={"event": plan.event, "target": plan.target, "status": "410"},
        )
        try:
            await self.notifier.notify(notice)
        except Exception:
            log.exception("subscription %s: the notifier failed", plan.name)

    async def enable(self, name: str) -> bool:
        """Deliver to a disabled subscription again; False when it was not disabled."""
        self._plan(name)
        changed = await self.queue.enable(name)
        worker = self.workers.get(name)
        if worker is not None and worker.disabled is not None:
            worker.set_disabled(None)
            changed = True
        if changed:
            log.info("subscription %s enabled", name)
        return changed

    async def disable(self, name: str, reason: str) -> None:
        """Stop delivering to a subscription until it is enabled; events keep queueing."""
        self._plan(name)
        now = self.clock.now()
        await self.queue.disable(name, reason, now)
        worker = self.workers.get(name)
        if worker is not None:
            worker.set_disabled(Disabled(name, now, reason))
        log.warning("subscription %s disabled: %s", name, reason)

    # --- dead letters and replay ---------------------------------------------------------------

    async def retry(self, ids: Sequence[str | JobKey]) -> int:
        """Send dead letters again, from their first attempt."""
        keys = keys_of(ids)
        count = await self.queue.retry(keys, self.clock.now())
        for name in {k.subscription for k in keys}:
            self._woken(name, None)
        return count

    async def retry_all(self, name: str) -> int:
        count = await self.queue.retry_all(name, self.clock.now())
        self._woken(name, count)
        return count

    async def discard(self, ids: Sequence[str | JobKey]) -> int:
        return await self.queue.discard(keys_of(ids))

    async def replay(
        self,
        name: str,
        start: int | datetime,
        end: int | datetime | None = None,
        progress: Progress | None = None,
    ) -> ReplayProgress:
        """Deliver a subscription's events from ``start`` (a sequence or a time) again."""
        plan = self._plan(name)
        result = await replay(
            self.bus, self.queue, plan, start, end, clock=self.clock, progress=progress
        )
        self._woken(name, result.enqueued)
        return result

    def _woken(self, name: str, added: int | None) -> None:
        worker = self.workers.get(name)
        if worker is None:
            return
        if added is not None:
            worker.depth += added
        worker.wake()

    # --- what operators read ----------------------------------------------------------------

    def _plan(self, name: str) -> DeliveryPlan:
        plan = self.plans.get(name)
        if plan is None:
            raise NotFound(f"subscription {name!r} is not delivered by this engine")
        return plan

    def status(self) -> list[SubscriptionStatus]:
        found: dict[str, SubscriptionStatus] = dict(self._status)
        for name, plan in self._claimed.items():
            if name not in self.workers and name not in found:
                found[name] = SubscriptionStatus(
                    name, "elsewhere", plan.target, "delivered by the node holding its lease"
                )
        for name, worker in self.workers.items():
            disabled = worker.disabled
            found[name] = SubscriptionStatus(
                name,
                "disabled" if disabled is not None else "running",
                worker.plan.target,
                disabled.reason if disabled is not None else None,
                worker.in_flight,
                worker.depth,
            )
        return [found[name] for name in sorted(found)]

    def metrics_of(self, name: str) -> SubscriptionMetrics:
        return self.metrics.snapshot(name)

    async def lag(self, name: str) -> int:
        """Events not delivered yet: unread in the bus plus waiting in the queue."""
        plan = self._plan(name)
        return await self.bus.pending(plan.name) + await self.queue.depth(plan.name)

    async def refresh_stats(self) -> None:
        for worker in list(self.workers.values()):
            await worker.refresh_stats()

    def notices(self) -> list[Notice]:
        """Recent notices, when the notifier keeps them (the default one does)."""
        return self.notifier.recent() if isinstance(self.notifier, LogNotifier) else []
