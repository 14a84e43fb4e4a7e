"""The platform's token signing keys on a node: reloaded from the store, rotated by one node.

The rotation (:func:`interlink.gateway.auth.platform_keys.rotate`) runs every
``ROTATE_EVERY`` seconds under the ``platform-keys`` lease where nodes share the store, so only
one node adds or retires keys; every node reloads them (``keep_refreshed``).

The private keys are sealed under the master key, as the secret store's values are: a node whose
Platform has ``gateway.oauth`` does not start without a master key, and one whose keys do not
open (a master key missing from ``INTERLINK_MASTER_KEY_PREVIOUS``) says which at start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from interlink.gateway.auth.platform_keys import PlatformKeyRing, keep_refreshed, rotate
from interlink.leases.keeper import HeldLease, LeaseKeeper
from interlink.leases.repeated import RepeatedPass
from interlink.runtime.runtime import Runtime
from interlink.tasks import cancel_and_wait
from interlink.vault import load_master_keys
from interlink.vault.platform_keys import no_master_key

log = logging.getLogger("interlink.gateway")

LEASE: Final = "platform-keys"
ROTATE_EVERY: Final = 60.0  # seconds; cheap (one query) when nothing is due


class NodePlatformKeys:
    def __init__(self, runtime: Runtime, *, rotate_every: float = ROTATE_EVERY) -> None:
        self.runtime = runtime
        self.master = load_master_keys()
        self.ring = PlatformKeyRing(runtime.store, self.master)
        self._told = False  # the missing master key, said once
        self._rotation = RepeatedPass(LEASE, self._rotate, rotate_every, "rotating platform keys")
        self._refresh: asyncio.Task[None] | None = None

    async def start(self, keeper: LeaseKeeper | None) -> None:
        if self.runtime.snapshot.estate.platform.spec.gateway.oauth is None:
            await self.ring.reload()  # for later: a key that does not open is only a warning
        elif self.master is None:
            raise no_master_key("the Platform's gateway.oauth issues tokens")
        else:
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
        if self.master is None:  # gateway.oauth came with a reload: no key is made
            if not self._told:
                log.error("%s", no_master_key("no platform signing key made").message)
            self._told = True
            return
        added = await asyncio.to_thread(
            rotate,
            self.runtime.store,
            self.master,
            settings.algorithm,
            settings.key_rotation,
            settings.token_lifetime,
        )
        if added is not None:
            await self.ring.reload()  # sign with it here at once; the others within REFRESH
