"""The platform's token signing keys on a node: reloaded from the store, rotated by one node.

The rotation (:func:`interlink.gateway.auth.platform_keys.rotate`) runs every
``ROTATE_EVERY`` seconds under the ``platform-keys`` lease where nodes share the store, so only
one node adds or retires keys; every node reloads them (``keep_refreshed``).
"""

from __future__ import annotations

import asyncio
from typing import Final

from interlink.gateway.auth.platform_keys import PlatformKeyRing, keep_refreshed, rotate
from interlink.leases.keeper import HeldLease, LeaseKeeper
from interlink.leases.repeated import RepeatedPass
from interlink.runtime.runtime import Runtime
from interlink.tasks import cancel_and_wait

LEASE: Final = "platform-keys"
ROTATE_EVERY: Final = 60.0  # seconds; cheap (one query) when nothing is due


class NodePlatformKeys:
    def __init__(self, runtime: Runtime, *, rotate_every: float = ROTATE_EVERY) -> None:
        self.runtime = runtime
        self.ring = PlatformKeyRing(runtime.store)
        self._rotation = RepeatedPass(LEASE, self._rotate, rotate_every, "rotating platform keys")
        self._refresh: asyncio.Task[None] | None = None

    async def start(self, keeper: LeaseKeeper | None) -> None:
        await asyncio.to_thread(self.ring.refresh)
        self._refresh = asyncio.create_task(keep_refreshed(self.ring), name="platform keys")
        self._rotation.start(keeper)

    async def close(self) -> None:
        await self._rotation.close()
        await cancel_and_wait([self._refresh])
        self._refresh = None

    async def _rotate(self, held: HeldLease | None) -> None:
        settings = self.runtime.snapshot.estate.platform.spec.gateway.oauth
        if settings is None:
            return
        added = await asyncio.to_thread(
            rotate,
            self.runtime.store,
            settings.algorithm,
            settings.key_rotation,
            settings.token_lifetime,
        )
        if added is not None:
            await self.ring.reload()  # sign with it here at once; the others within REFRESH
