"""A pass repeated on a schedule (a retention purge): under a lease where several nodes may
share the store, or in this process alone on the embedded store, which one process serves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from interlink.leases.keeper import HeldLease, LeaseKeeper
from interlink.leases.singleton import Singleton
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.leases")

#: One pass; ``held`` is the lease it runs under (None alone), to check between batches.
Pass = Callable[[HeldLease | None], Awaitable[object]]


class RepeatedPass:
    """``once`` every ``interval`` seconds, ``what`` naming it in the log."""

    def __init__(self, name: str, once: Pass, interval: float, what: str) -> None:
        self.name = name
        self.once = once
        self.interval = interval
        self.what = what
        self._singleton: Singleton | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, keeper: LeaseKeeper | None) -> None:
        """Under ``keeper``'s lease (a cluster), or here (alone)."""
        if keeper is not None:
            self._singleton = Singleton(keeper, self.name, self._passes, pause=self.interval)
        else:
            self._task = asyncio.get_running_loop().create_task(self._local(), name=self.what)

    @property
    def running(self) -> bool:
        """Whether this node runs the passes now (holds the lease, or needs none)."""
        if self._singleton is not None:
            return self._singleton.running
        return self._task is not None and not self._task.done()

    async def close(self) -> None:
        if self._singleton is not None:
            await self._singleton.close()
            self._singleton = None
        await cancel_and_wait([self._task])
        self._task = None

    async def _passes(self, held: HeldLease) -> None:
        while held.valid():
            await self.once(held)
            await asyncio.sleep(self.interval)

    async def _local(self) -> None:
        failing = False
        while True:
            try:
                await self.once(None)
            except Exception as exc:  # the store away: said once a streak
                if not failing:
                    log.warning("%s failed: %s", self.what, exc)
                failing = True
            else:
                failing = False
            await asyncio.sleep(self.interval)
