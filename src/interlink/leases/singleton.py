"""One job, run on one node at a time: only while this node holds the job's lease.

What schedules, monitors and reconciling bus resources use: ``Singleton(keeper, "reconcile",
job)`` runs ``job(held)`` once this node takes the lease, and cancels it the moment the lease
is lost or given up. A job that returns is done until the lease is taken again; one that raises
is logged and run again after ``pause`` seconds, while the lease is held. A job that writes
somewhere checks ``held.valid()`` before each write, and may stamp it with ``held.token``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

from interlink.errors import InterlinkError
from interlink.leases.keeper import HeldLease, LeaseKeeper
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.leases")

Job = Callable[[HeldLease], Awaitable[None]]


class Singleton:
    def __init__(
        self, keeper: LeaseKeeper, name: str, job: Job, *, pause: float = 1.0, shared: bool = False
    ) -> None:
        """``shared``: one of a set of like jobs (a monitors' shard) the keeper spreads over
        the live nodes, rather than whichever node finds it free first."""
        self.keeper = keeper
        self.name = name
        self.job = job
        self.pause = pause
        self._task: asyncio.Task[None] | None = None
        keeper.claim(name, self._start, self._stop, shared=shared)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _start(self, held: HeldLease) -> None:
        self._task = asyncio.create_task(self._run(held), name=f"singleton {self.name}")

    async def _run(self, held: HeldLease) -> None:
        loop = asyncio.get_running_loop()
        failed_at = -math.inf
        while held.valid():
            try:
                await self.job(held)
                return
            except InterlinkError as exc:  # the store or the bus away: said once a streak
                if loop.time() - failed_at > 10 * self.pause:
                    log.warning(
                        "%s failed: %s; running it again every %gs", self.name, exc, self.pause
                    )
                failed_at = loop.time()
            except Exception:
                log.exception("%s failed; running it again in %gs", self.name, self.pause)
            await asyncio.sleep(self.pause)

    async def _stop(self, name: str, lost: bool) -> None:
        task, self._task = self._task, None
        await cancel_and_wait([task])

    async def close(self) -> None:
        """Stop running the job here and release its lease."""
        await self.keeper.unclaim(self.name)
