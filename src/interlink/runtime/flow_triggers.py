"""Polling and queue triggers on a serving node: :func:`start_triggers`, one call for the server.

Like the schedule trigger, each trigger runs under a lease of its own with the event mesh's
lease keeper (a keeper of this node's otherwise, on PostgreSQL), so one node of the cluster
polls or consumes it and another takes over within the lease's time when it stops; on SQLite
the one process runs them all. A data-plane node runs none: its control plane's nodes do. The
wanted ones are a function of the running snapshot (``declare``), applied at start and after
every reload: `serve` declares each Flow's ``trigger.poll`` (``flows/triggers/declared.py``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable

from interlink.errors import InterlinkError
from interlink.flows.triggers import (
    Begin,
    FlowTriggers,
    Start,
    TriggerCheckpoints,
    TriggerSource,
)
from interlink.flows.triggers.poller import InOrder
from interlink.leases import LeaseKeeper
from interlink.runtime.runtime import Runtime
from interlink.runtime.snapshot import Snapshot

log = logging.getLogger("interlink.flows.triggers")

#: The triggers a snapshot wants: a connector reads its Flows' trigger fields here.
Declare = Callable[[Snapshot], Iterable[TriggerSource]]


async def start_triggers(
    runtime: Runtime,
    start: Start,
    declare: Declare | None = None,
    in_order: InOrder | None = None,
    begin: Begin | None = None,
) -> FlowTriggers | None:
    """Run the triggers ``declare`` wants now and after each reload (none without it: then
    the caller applies its own list), recording runs through ``start`` (a batch trigger's
    through ``in_order``, which keeps them in order, a consumed message's begun through
    ``begin`` when given); None on a data-plane node. The caller
    closes what it gets back when the server stops."""
    if runtime.settings.control_plane:
        return None
    store = runtime.store
    keeper = runtime.mesh.keeper if runtime.mesh is not None else None
    owns = False
    if keeper is None and store.db.dialect == "postgres":
        node = runtime.node_id or uuid.uuid4().hex[:12]
        keeper = LeaseKeeper(store.leases, f"{node}-triggers", ttl=runtime.settings.lease_ttl)
        owns = True
    triggers = FlowTriggers(
        start,
        TriggerCheckpoints(store.db),
        keeper=keeper,
        owns_keeper=owns,
        in_order=in_order,
        begin=begin,
    )
    if declare is None:
        return triggers

    async def follow(snapshot: Snapshot) -> None:
        if triggers.closed:
            return
        try:
            await triggers.apply(declare(snapshot))
        except InterlinkError as exc:  # the triggers running keep running
            log.error("the flow triggers of the new revision were not applied: %s", exc.message)

    await follow(runtime.snapshot)
    runtime.on_reload(follow)
    return triggers
