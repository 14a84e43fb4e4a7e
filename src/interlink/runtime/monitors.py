"""Monitors on a serving node: :func:`start_monitors`, one call for the server.

Every Monitor is evaluated every :data:`EVERY` seconds by exactly one node. The monitors are
split into :data:`SHARDS` shards by a hash of their name, and each shard is one lease
(``monitors:<n>``), spread over the live nodes like a subscription's deliveries: a thousand
monitors take eight leases, not a thousand, and a node joining takes its part within a few
rounds. On SQLite the one process evaluates them all. A data-plane node evaluates none (its
control plane's nodes do).

Each pass writes the verdicts to the store (``monitor_states``: ``GET /api/v1/monitors`` and
``interlink monitors list`` read them, whichever node evaluated), sets the
``interlink_monitor_firing`` gauge and hands them to the :class:`VerdictSink` when there is one
(the alerts). The holder of shard 0 also rolls old minute signals into hours once an hour.

The node's own signals (events published, deliveries, flow runs, requests through a gateway in
this process) are written to the store by a :class:`SignalSaver` started here too.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from typing import Final

from interlink.estate.kinds.data import Monitor
from interlink.estate.model import Estate
from interlink.leases import HeldLease, LeaseKeeper
from interlink.leases.singleton import Singleton
from interlink.observe.metrics import Registry
from interlink.observe.monitoring import MonitorEvaluator
from interlink.observe.signals import SignalSaver
from interlink.observe.verdicts import Verdict, VerdictSink
from interlink.runtime.runtime import Runtime
from interlink.store import MonitorState, Store
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.monitors")

#: Leases the monitors are spread over.
SHARDS: Final = 8
#: Seconds between two evaluations of a monitor.
EVERY: Final = 30.0
#: Seconds between two roll-ups of old minute signals into hours.
ROLL_UP_EVERY: Final = 3600.0


def shard_of(monitor: str) -> int:
    return zlib.crc32(monitor.encode()) % SHARDS


class MonitorRunner:
    """Evaluates the monitors of ``estate()`` (the running estate, read every pass)."""

    def __init__(
        self,
        store: Store,
        estate: Callable[[], Estate],
        metrics: Registry,
        *,
        keeper: LeaseKeeper | None = None,
        owns_keeper: bool = False,
        sink: VerdictSink | None = None,
        every: float = EVERY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.estate = estate
        self.sink = sink
        self.every = every
        self.clock = clock
        self.latest: dict[str, Verdict] = {}  # this node's latest verdict per monitor
        self._keeper = keeper
        self._owns_keeper = owns_keeper
        self._evaluators: dict[int | None, MonitorEvaluator] = {}
        self._singletons: list[Singleton] = []
        self._task: asyncio.Task[None] | None = None
        self._rolled_at = -ROLL_UP_EVERY
        firing = metrics.gauge(
            "interlink_monitor_firing",
            "1 while a monitor evaluated on this node fires, 0 while it does not.",
            ("monitor", "type"),
        )
        firing.set_function(self._firing)
        self.duration = metrics.histogram(
            "interlink_monitor_evaluation_seconds",
            "Time to evaluate one shard's monitors (all of them on SQLite), store reads included.",
            (),
        )

    def _firing(self) -> list[tuple[tuple[str, ...], float]]:
        """The monitors evaluated here lately (not those of a shard another node took)."""
        recent = self.clock() - 3 * self.every
        return [
            ((v.monitor, v.type), float(v.firing))
            for v in self.latest.values()
            if v.at.timestamp() >= recent
        ]

    async def start(self) -> None:
        if self._keeper is None:
            self._task = asyncio.create_task(self._alone(), name="monitors")
            return
        for shard in range(SHARDS):
            job = self._job(shard)
            name = f"monitors:{shard}"
            self._singletons.append(
                Singleton(self._keeper, name, job, pause=self.every, shared=True)
            )
        if self._owns_keeper:
            await self._keeper.start()

    async def close(self) -> None:
        await cancel_and_wait([self._task])
        for singleton in self._singletons:
            await singleton.close()
        if self._owns_keeper and self._keeper is not None:
            await self._keeper.stop()

    def _job(self, shard: int) -> Callable[[HeldLease], Awaitable[None]]:
        async def run(held: HeldLease) -> None:
            while held.valid():
                await self.evaluate(shard, held)
                await asyncio.sleep(self.every)

        return run

    async def _alone(self) -> None:
        while True:
            try:
                await self.evaluate()
            except Exception:  # the store away, most likely: said, and tried again next pass
                log.exception("monitors not evaluated; trying again in %gs", self.every)
            await asyncio.sleep(self.every)

    async def evaluate(
        self, shard: int | None = None, held: HeldLease | None = None
    ) -> list[Verdict]:
        """One pass over ``shard``'s monitors (every monitor when None); their verdicts."""
        estate = self.estate()
        declared = list(estate.of(Monitor))
        mine = [m for m in declared if shard is None or shard_of(m.metadata.name) == shard]
        evaluator = self._evaluators.get(shard)
        if evaluator is None:
            evaluator = self._evaluators[shard] = MonitorEvaluator(self.store, self.clock)
        started = time.perf_counter()
        verdicts = await asyncio.to_thread(evaluator.evaluate, estate, mine)
        self.duration.observe(time.perf_counter() - started)
        names = {m.metadata.name for m in declared}
        self.latest = {n: v for n, v in self.latest.items() if n in names}
        self.latest.update((v.monitor, v) for v in verdicts)
        if held is not None and not held.valid():
            return verdicts  # another node evaluates these now: it writes and tells
        states = [MonitorState(v.monitor, v.type, v.firing, v.at, dict(v.facts)) for v in verdicts]
        await asyncio.to_thread(self.store.monitor_states.save, states)
        if shard in (None, 0):
            await asyncio.to_thread(self.store.monitor_states.forget, names)
            now = self.clock()
            if now - self._rolled_at >= ROLL_UP_EVERY:
                await asyncio.to_thread(self.store.signals.roll_up, now)
                self._rolled_at = now
        if self.sink is not None:
            try:
                await self.sink.verdicts(verdicts)
            except Exception:  # the alerts' failure is theirs: the next pass tells them again
                log.exception("monitor verdicts not taken by %r", self.sink)
        return verdicts


class MonitorService:
    """What :func:`start_monitors` starts: the signal saver, and the runner where it runs."""

    def __init__(self, saver: SignalSaver, runner: MonitorRunner | None) -> None:
        self.saver = saver
        self.runner = runner

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.close()
        await self.saver.stop()


async def start_monitors(runtime: Runtime, sink: VerdictSink | None = None) -> MonitorService:
    """Start saving this node's signals and, unless it is a data-plane node, evaluating its
    share of the monitors; the caller closes what it gets back when the server stops."""
    saver = SignalSaver(runtime.store)
    saver.start()
    if runtime.settings.control_plane:
        log.info(
            "monitors: a data-plane node evaluates none; its signals stay in its own store, "
            "which the control plane's monitors read only when it is theirs (--store-url)"
        )
        return MonitorService(saver, None)
    store = runtime.store
    keeper = runtime.mesh.keeper if runtime.mesh is not None else None
    owns = False
    if keeper is None and store.db.dialect == "postgres":
        node = runtime.node_id or uuid.uuid4().hex[:12]
        keeper = LeaseKeeper(store.leases, f"{node}-monitors", ttl=runtime.settings.lease_ttl)
        owns = True
    runner = MonitorRunner(
        store,
        lambda: runtime.snapshot.estate,
        runtime.metrics,
        keeper=keeper,
        owns_keeper=owns,
        sink=sink,
    )
    await runner.start()
    return MonitorService(saver, runner)
