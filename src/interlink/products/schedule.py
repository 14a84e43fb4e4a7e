"""Materialised products refreshed at their cron times, on one node of the cluster.

With a lease keeper (a PostgreSQL store) the schedule runs under the ``product-refresh`` lease:
one node refreshes, and another takes over within seconds when it stops. Without one (SQLite:
one process) it runs here. A product is due at the first cron time after its last refresh
(whatever its outcome: a failing source is tried again at the next time, not in a loop), and
at once when it has never been refreshed. The estate is read on every pass, so reloads are
followed.

A product refreshed on an event (``refresh.event``) is due when the event log holds an event
of that type stored since its last refresh: each pass asks the bus for one such event, so
however many arrive between two passes they make one refresh, and a node that takes the lease
over finds what was published while nobody held it (the log, not a node's memory, says).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from cronsim import CronSim

from interlink.errors import InterlinkError
from interlink.estate.kinds.data import ProductMode
from interlink.events.bus import Bus
from interlink.leases import HeldLease, LeaseKeeper, Singleton
from interlink.products.service import Products
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.products")

LEASE: Final = "product-refresh"
#: Longest sleep between two passes: how soon a reload's new schedule is seen.
PASS: Final = 15.0


class RefreshSchedule:
    def __init__(
        self,
        products: Products,
        *,
        keeper: LeaseKeeper | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: float = PASS,
        bus: Bus | None = None,
    ) -> None:
        self.products = products
        self.bus = bus  # where refresh.event's events are looked for (none: not refreshed)
        self.keeper = keeper
        self.clock = clock
        self.interval = interval
        self._last: dict[str, datetime] = {}
        #: A keeper started for the schedule alone (no event mesh), stopped with it.
        self.owned_keeper: LeaseKeeper | None = None
        self._singleton: Singleton | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.keeper is not None:
            self._singleton = Singleton(self.keeper, LEASE, self._run)
        else:
            self._task = asyncio.create_task(self._run(None), name="product refreshes")

    async def close(self) -> None:
        if self._singleton is not None:
            await self._singleton.close()
        await cancel_and_wait([self._task])
        if self.owned_keeper is not None:
            await self.owned_keeper.stop()
            self.owned_keeper = None

    def due(self, now: datetime) -> list[str]:
        """The materialised products whose next cron time has come, by name."""
        found = []
        for name in self.products.names():
            _, product = self.products.product(name)
            refresh = product.spec.refresh
            if product.spec.mode is not ProductMode.MATERIALISED or refresh is None:
                continue
            if refresh.schedule is None:
                continue
            last = self._last_refresh(name)
            if last is None or next(iter(CronSim(refresh.schedule, last))) <= now:
                found.append(name)
        return found

    async def published(self) -> list[str]:
        """The materialised products refreshed on an event of which one has been stored since
        their last refresh (or that were never refreshed), by name."""
        found = []
        for name in self.products.names():
            _, product = self.products.product(name)
            refresh = product.spec.refresh
            if product.spec.mode is not ProductMode.MATERIALISED or refresh is None:
                continue
            if refresh.event is None or self.bus is None:
                continue
            last = self._last_refresh(name)
            if last is None:
                found.append(name)
                continue
            try:
                newer = await self.bus.read(refresh.event, last, 1)
            except InterlinkError as exc:  # the bus away, or no stream for the type (yet)
                log.warning("DataProduct/%s: events not looked for: %s", name, exc.message)
                continue
            if newer:
                found.append(name)
        return found

    def _last_refresh(self, name: str) -> datetime | None:
        if name not in self._last and self.products.history is not None:
            record = self.products.history.last(name)
            if record is not None:
                self._last[name] = record.started_at.astimezone(UTC)
        return self._last.get(name)

    async def _run(self, held: HeldLease | None) -> None:
        while held is None or held.valid():
            await self.refresh_due(held)
            await asyncio.sleep(self.interval)

    async def refresh_due(self, held: HeldLease | None = None) -> list[str]:
        """One pass: refresh each product due now (by its schedule or a published event), while
        ``held`` stays valid; the products refreshed (or tried), by name."""
        now = self.clock()
        due = self.due(now)
        due += [name for name in await self.published() if name not in due]
        for name in due:
            if held is not None and not held.valid():
                break
            self._last[name] = now
            try:
                await self.products.refresh(name)
            except InterlinkError:
                pass  # recorded, logged and told by the refresh itself
            except Exception:
                log.exception("DataProduct/%s: refresh failed", name)
        return due
