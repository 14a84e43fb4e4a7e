"""A trigger's loop, run on one node at a time: under its lease with a keeper, here without.

With a :class:`LeaseKeeper` (PostgreSQL, several nodes) the loop runs as a :class:`Singleton`
of the lease ``flow-trigger:<flow>:<trigger>``: only while this node holds it, cancelled the
moment it is lost, started again (from the stored checkpoint) when it is taken again. Without
one (SQLite, one process) it runs in this process until closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Final

from interlink.leases import HeldLease, LeaseKeeper, Singleton
from interlink.tasks import cancel_and_wait

#: The lease a trigger runs under is this and its id.
LEASE_PREFIX: Final = "flow-trigger:"

Job = Callable[[HeldLease | None], Coroutine[Any, Any, None]]


class OwnedJob:
    def __init__(self, lease: str, job: Job, keeper: LeaseKeeper | None) -> None:
        self.lease = lease
        self._job = job
        self.keeper = keeper
        self._singleton: Singleton | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.keeper is not None:
            self._singleton = Singleton(self.keeper, self.lease, self._job)
        else:
            self._task = asyncio.create_task(self._job(None), name=self.lease)

    async def close(self) -> None:
        """Stop the loop here and give its lease up."""
        singleton, self._singleton = self._singleton, None
        if singleton is not None:
            await singleton.close()
        await cancel_and_wait([self._task])
        self._task = None

    @property
    def running(self) -> bool:
        """Whether the loop runs here now (holds the lease, or needs none)."""
        if self._singleton is not None:
            return self._singleton.running
        return self._task is not None and not self._task.done()

    def refused(self) -> None:
        """A write fenced by the lease was refused: the keeper stops counting it held."""
        if self.keeper is not None:
            self.keeper.refused(self.lease)
