"""This node's row in the store's ``nodes`` table: written every few seconds, so every node
(and `GET /api/v1/nodes`) sees what each one runs and whether it is up."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Final

from interlink.errors import InterlinkError
from interlink.events.mesh import node_id
from interlink.runtime.runtime import Runtime

log = logging.getLogger("interlink.nodes")

HEARTBEAT: Final = 2.0  # seconds between two writes of a node's row
# A node silent for this long is shown as down; one silent for PRUNE_AFTER is forgotten.
LIVE_WITHIN: Final = timedelta(seconds=HEARTBEAT * 4)
PRUNE_AFTER: Final = timedelta(hours=1)


class NodeReport:
    """What this node says about itself; ``gateway_up`` is told by the process as the gateway
    starts and stops."""

    def __init__(self, runtime: Runtime, admin_address: str, gateway_address: str) -> None:
        self.runtime = runtime
        self.id = node_id()  # also its lease owner name, so nodes and leases name it alike
        self.admin_address = admin_address
        self.gateway_address = gateway_address
        self.started_at = runtime.store.db.now()
        self.gateway_up = False

    def health(self) -> dict[str, str]:
        """Each part: "ok", or what is wrong with it in a few words."""
        degraded = self.runtime.degraded
        parts = {
            "store": "ok",  # the row is written through it: a node whose store fails goes silent
            "bus": "ok" if self.runtime.mesh is not None else "not running",
            "gateway": "ok" if self.gateway_up else "not running",
        }
        for why in degraded.values():  # what degrades today is the gateway's rate limits
            parts["gateway"] = f"degraded: {why}"
        return parts

    def beat(self) -> None:
        """Write the row now (blocking)."""
        rev = self.runtime.snapshot.revision
        self.runtime.store.nodes.beat(
            self.id,
            admin_address=self.admin_address,
            gateway_address=self.gateway_address,
            revision=(rev.id, rev.hash) if rev is not None else None,
            started_at=self.started_at,
            health=self.health(),
        )

    async def run(self) -> None:
        """Beat every ``HEARTBEAT`` seconds until cancelled; prune long-silent rows now and then."""
        beats = 0
        failing = False  # said once a streak, not every beat
        while True:
            try:
                await asyncio.to_thread(self.beat)
                if beats % 300 == 0:  # every ten minutes
                    await asyncio.to_thread(self.runtime.store.nodes.prune, PRUNE_AFTER)
            except InterlinkError as exc:
                if not failing:
                    log.warning(
                        "cannot write this node's heartbeat: %s; trying every %g s",
                        exc.message,
                        HEARTBEAT,
                    )
                failing = True
            else:
                if failing:
                    log.info("this node's heartbeat is written again")
                failing = False
            beats += 1
            await asyncio.sleep(HEARTBEAT)
