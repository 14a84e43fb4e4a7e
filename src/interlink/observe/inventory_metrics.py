"""The inventory's figures as gauges: connections declared, observed, undeclared and unused
over the last :data:`WINDOW`, and the observed / declared ratio, worked out every
:data:`INTERVAL` seconds off the event loop (the store's hourly counts are small, and the work
is a merge), so a scrape reads numbers, never the store::

    interlink_inventory_connections{state}        declared, observed, undeclared, unused
    interlink_inventory_observed_declared_ratio
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from interlink.estate.model import Estate
from interlink.observe.inventory import Inventory, read_inventory
from interlink.observe.metrics import Registry
from interlink.store import Store
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.observe")

#: Seconds between two computations.
INTERVAL: Final = 300.0
#: The window a connection must have been observed in to count as observed.
WINDOW: Final = timedelta(days=7)


class InventoryGauges:
    def __init__(
        self,
        registry: Registry,
        store: Store,
        estate: Callable[[], Estate],
        *,
        interval: float = INTERVAL,
        window: timedelta = WINDOW,
    ) -> None:
        self.store = store
        self.estate = estate
        self.interval = interval
        self.window = window
        self.connections = registry.gauge(
            "interlink_inventory_connections",
            f"Connections of the inventory over the last {window.days} days, by state "
            "(declared, observed, undeclared, unused).",
            ("state",),
        )
        self.ratio = registry.gauge(
            "interlink_inventory_observed_declared_ratio",
            "Connections observed over connections declared (above 1 with undeclared ones).",
        )
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.update)
            except Exception as exc:  # the store away: said once a streak, tried next time
                if not self._failing:
                    log.warning("inventory figures not computed: %s", exc)
                self._failing = True
            else:
                self._failing = False
            await asyncio.sleep(self.interval)

    def update(self, now: datetime | None = None) -> Inventory:
        """Compute the figures now and set the gauges (blocking: it reads the store)."""
        now = now or datetime.now(UTC)
        inv = read_inventory(self.estate(), self.store, now - self.window, now, history=False)
        summary = inv.summary()
        for state in ("declared", "observed", "undeclared", "unused"):
            self.connections.set(summary[state], state)
        ratio = inv.ratio
        self.ratio.set(ratio if ratio is not None else 0.0)
        return inv
