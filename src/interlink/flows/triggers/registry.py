"""The triggers a node runs: :meth:`FlowTriggers.apply` with the wanted list on every reload.

Each wanted trigger is a :class:`TriggerSource`, a flow, the trigger's name and its source. A
trigger new to the list starts, one gone from it stops (its checkpoint is kept: the same
trigger added again polls on from there), one whose source or settings changed restarts, and
one unchanged keeps running untouched. A source compares by ``==``: a connector's source that
is a frozen dataclass of its settings stays running across a reload that does not touch it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from interlink.errors import ConfigError
from interlink.flows.triggers.backoff import describe
from interlink.flows.triggers.checkpoints import TriggerCheckpoints
from interlink.flows.triggers.consumer import Begin, Consumer
from interlink.flows.triggers.poller import (
    DEFAULT_INTERVAL,
    DEFAULT_LIMIT,
    Each,
    InOrder,
    Poller,
    Start,
)
from interlink.flows.triggers.sources import (
    ConsumedSource,
    PollingSource,
    close_source,
    trigger_id,
)
from interlink.leases import LeaseKeeper

log = logging.getLogger("interlink.flows.triggers")


@dataclass(frozen=True)
class TriggerSource:
    """A trigger as the runtime is given it: ``source`` feeds runs of ``flow``."""

    flow: str
    name: str
    source: PollingSource | ConsumedSource
    interval: float = DEFAULT_INTERVAL  # seconds between polls (a polling source)
    limit: int = DEFAULT_LIMIT  # items a poll asks for at most
    each: Each = "row"  # a run per item, or one per poll's batch (a polling source)
    concurrency: int = 1  # messages in flight at once (a consumed source); 1 keeps their order

    @property
    def id(self) -> str:
        return trigger_id(self.flow, self.name)


@dataclass(frozen=True)
class Applied:
    """What :meth:`FlowTriggers.apply` did, by trigger id."""

    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


class FlowTriggers:
    """Runs a :class:`Poller` or :class:`Consumer` per wanted trigger, recording runs through
    ``start``; with a keeper each runs on one node of the cluster at a time."""

    def __init__(
        self,
        start: Start,
        checkpoints: TriggerCheckpoints,
        *,
        keeper: LeaseKeeper | None = None,
        owns_keeper: bool = False,
        retry_initial: float = 1.0,
        retry_limit: float = 60.0,
        in_order: InOrder | None = None,
        begin: Begin | None = None,
    ) -> None:
        self._start = start
        self._in_order = in_order  # how batch triggers keep their runs in order
        # How a consumer begins its messages' runs (the runner's: recorded with their first
        # checkpoint); ``start`` without it.
        self._begins = begin
        self.checkpoints = checkpoints
        self.keeper = keeper
        self._owns_keeper = owns_keeper  # started with the first trigger, stopped on close
        self._keeper_started = False
        self._retry = (retry_initial, retry_limit)
        self._running: dict[str, tuple[TriggerSource, Poller | Consumer]] = {}
        self.closed = False

    @property
    def running(self) -> dict[str, Poller | Consumer]:
        """The triggers this node runs or stands by for, by id."""
        return {key: worker for key, (_, worker) in self._running.items()}

    async def apply(self, wanted: Iterable[TriggerSource]) -> Applied:
        """Start the new triggers, stop the removed ones, restart the changed ones."""
        if self.closed:
            raise ConfigError("the flow triggers of this node are stopped")
        by_id: dict[str, TriggerSource] = {}
        for trigger in wanted:
            if trigger.id in by_id:
                raise ConfigError(f"trigger {trigger.name} of Flow/{trigger.flow} given twice")
            _kind(trigger)
            by_id[trigger.id] = trigger
        applied = Applied()
        for key in sorted(self._running.keys() - by_id.keys()):
            await self._stop(key)
            applied.stopped.append(key)
        for key, trigger in sorted(by_id.items()):
            current = self._running.get(key)
            if current is not None and current[0] == trigger:
                applied.kept.append(key)
                continue
            if current is not None:
                await self._stop(key)
                applied.restarted.append(key)
            else:
                applied.started.append(key)
            await self._begin(trigger)
        return applied

    async def close(self) -> None:
        """Stop every trigger here (their leases given up) and close their sources."""
        self.closed = True
        for key in sorted(self._running):
            await self._stop(key)
        if self._keeper_started and self.keeper is not None:
            await self.keeper.stop()
            self._keeper_started = False

    async def _begin(self, trigger: TriggerSource) -> None:
        initial, limit = self._retry
        worker: Poller | Consumer
        if _kind(trigger) == "poll":
            assert isinstance(trigger.source, PollingSource)
            worker = Poller(
                trigger.flow,
                trigger.name,
                trigger.source,
                self._start,
                self.checkpoints,
                keeper=self.keeper,
                interval=trigger.interval,
                limit=trigger.limit,
                each=trigger.each,
                in_order=self._in_order,
                retry_initial=initial,
                retry_limit=limit,
            )
        else:
            assert isinstance(trigger.source, ConsumedSource)
            worker = Consumer(
                trigger.flow,
                trigger.name,
                trigger.source,
                self._start,
                keeper=self.keeper,
                begin=self._begins,
                concurrency=trigger.concurrency,
                retry_initial=initial,
                retry_limit=limit,
            )
        self._running[trigger.id] = (trigger, worker)
        await worker.start()
        log.info("Flow/%s trigger %s started", trigger.flow, trigger.name)
        if self._owns_keeper and not self._keeper_started and self.keeper is not None:
            await self.keeper.start()
            self._keeper_started = True

    async def _stop(self, key: str) -> None:
        trigger, worker = self._running.pop(key)
        await worker.close()
        try:
            await close_source(trigger.source)
        except Exception as exc:
            log.warning(
                "Flow/%s trigger %s: closing its source failed: %s",
                trigger.flow,
                trigger.name,
                describe(exc),
            )
        log.info("Flow/%s trigger %s stopped", trigger.flow, trigger.name)


def _kind(trigger: TriggerSource) -> str:
    if isinstance(trigger.source, PollingSource):
        return "poll"
    if isinstance(trigger.source, ConsumedSource):
        return "consume"
    raise ConfigError(
        f"the source of trigger {trigger.name} of Flow/{trigger.flow} has neither poll() "
        "nor receive()"
    )
