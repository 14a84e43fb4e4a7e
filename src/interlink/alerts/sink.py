"""The alerts as a :class:`~interlink.observe.verdicts.VerdictSink`: the monitors' evaluator
hands every verdict to :meth:`Alerts.verdicts`, which books it and returns; the telling happens
elsewhere, in the background.

``verdicts`` only writes the book (off the event loop) and never raises: a store that fails is
logged and the evaluation goes on. Sending runs in its own loop under the cluster's
``alert-sender`` lease when there is a lease keeper (one node sends, another takes over when it
stops), in this process otherwise (SQLite). The same loop purges alerts resolved longer ago than
the Platform's ``spec.alerts.retention``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

from interlink.alerts.book import Bookkeeper, Recorded
from interlink.alerts.channels import ChannelSenders
from interlink.alerts.dispatch import Dispatcher, Pass
from interlink.errors import InterlinkError
from interlink.estate.model import Estate
from interlink.estate.references import SecretSource
from interlink.leases import HeldLease, LeaseKeeper, Singleton
from interlink.observe.metrics import Registry
from interlink.observe.verdicts import Verdict
from interlink.store import Store
from interlink.store.base import utcnow
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.alerts")

LEASE: Final = "alert-sender"
#: Seconds between sending passes when nothing wakes the loop sooner.
INTERVAL: Final = 5.0
#: Seconds between retention purges.
PURGE_EVERY: Final = 3600.0


class Alerts:
    """Books verdicts into alerts and sends their notifications."""

    def __init__(
        self,
        store: Store,
        estate: Callable[[], Estate],
        *,
        clock: Callable[[], datetime] = utcnow,
        secrets: SecretSource | None = None,
        metrics: Registry | None = None,
        senders: ChannelSenders | None = None,
        keeper: LeaseKeeper | None = None,
        interval: float = INTERVAL,
        attempts: int = 8,
        first_retry: float = 30.0,
    ) -> None:
        self.store = store
        self.estate = estate
        self.clock = clock
        self.keeper = keeper
        #: A keeper started for the alerts alone (no event mesh), stopped with them.
        self.owned_keeper: LeaseKeeper | None = None
        self.interval = interval
        self.bookkeeper = Bookkeeper(store.alerts, estate)
        self.senders = senders or ChannelSenders(secrets)
        registry = metrics or Registry()
        self.dispatcher = Dispatcher(
            store.alerts,
            estate,
            self.senders,
            clock=clock,
            metrics=registry,
            attempts=attempts,
            first_retry=first_retry,
        )
        self._failures = registry.counter(
            "interlink_alert_verdicts_failed_total",
            "Verdicts the alerts could not book (the store failing).",
        )
        self._wake = asyncio.Event()
        self._singleton: Singleton | None = None
        self._task: asyncio.Task[None] | None = None
        self._purged_at = -PURGE_EVERY

    # --- the sink ----------------------------------------------------------------------------

    async def verdicts(self, verdicts: Sequence[Verdict]) -> None:
        """Book each verdict; never raises, never waits for a channel."""
        if not verdicts:
            return
        try:
            await asyncio.to_thread(self.record, verdicts)
        except InterlinkError as exc:
            self._failures.inc(amount=len(verdicts))
            log.warning("alerts: %d verdict(s) not booked: %s", len(verdicts), exc)
        except Exception:
            self._failures.inc(amount=len(verdicts))
            log.exception("alerts: %d verdict(s) not booked", len(verdicts))
        self._wake.set()

    def record(self, verdicts: Sequence[Verdict]) -> list[Recorded]:
        """Book verdicts now (synchronous: the store is)."""
        now = self.clock()
        return [self.bookkeeper.record(v, now) for v in verdicts]

    # --- the sender ----------------------------------------------------------------------------

    async def run_once(self) -> Pass:
        """One sending pass, and the retention purge when it is due."""
        done = await self.dispatcher.run_once()
        if time.monotonic() - self._purged_at >= PURGE_EVERY:
            self._purged_at = time.monotonic()
            await asyncio.to_thread(self.purge)
        return done

    def purge(self) -> int:
        retention = self.estate().platform.spec.alerts.retention
        purged = self.store.alerts.purge(self.clock() - timedelta(seconds=retention))
        if purged:
            log.info("alerts purged: %d resolved alert(s) past their retention", purged)
        return purged

    async def start(self) -> None:
        """Start sending: under the lease with a keeper, in this process without one."""
        if self.keeper is not None:
            self._singleton = Singleton(self.keeper, LEASE, self._held, pause=self.interval)
        else:
            self._task = asyncio.create_task(self._loop(None), name="alert sender")

    async def close(self) -> None:
        if self._singleton is not None:
            await self._singleton.close()
            self._singleton = None
        if self.owned_keeper is not None:
            await self.owned_keeper.stop()
            self.owned_keeper = None
        await cancel_and_wait([self._task])
        self._task = None
        await self.senders.aclose()

    @property
    def sending(self) -> bool:
        """Whether this node sends now (holds the lease, or needs none)."""
        if self._singleton is not None:
            return self._singleton.running
        return self._task is not None and not self._task.done()

    async def _held(self, held: HeldLease) -> None:
        await self._loop(held)

    async def _loop(self, held: HeldLease | None) -> None:
        failing = False
        while held is None or held.valid():
            try:
                await self.run_once()
                failing = False
            except InterlinkError as exc:  # the store away: said once a streak
                if not failing:
                    log.warning("alerts: sending pass failed: %s", exc)
                failing = True
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
