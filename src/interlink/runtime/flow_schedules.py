"""The schedule trigger on a serving node: :func:`start_scheduler`, one call for the server.

On a PostgreSQL store the scheduler runs under the cluster's ``flow-schedules`` lease, with the
event mesh's lease keeper when the mesh is up (its own keeper otherwise), so exactly one node
starts scheduled runs and another takes over within seconds when it stops. On SQLite the one
process schedules. A data-plane node schedules nothing: its control plane's nodes do. The
scheduler reads the running estate on every pass, so it follows reloads by itself.
"""

from __future__ import annotations

import uuid

from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.flows.engine import FlowEngine
from interlink.flows.scheduler import FlowScheduler
from interlink.flows.schedules import FlowSchedules
from interlink.leases import LeaseKeeper
from interlink.runtime.runtime import Runtime


def running_flows(runtime: Runtime) -> dict[str, FlowSpec]:
    """The Flows of the estate this node runs now, by name."""
    return {flow.metadata.name: flow.spec for flow in runtime.snapshot.estate.of(Flow)}


async def start_scheduler(runtime: Runtime, engine: FlowEngine) -> FlowScheduler | None:
    """Start the schedule trigger for ``engine``; None on a data-plane node. The caller closes
    what it gets back when the server stops."""
    if runtime.settings.control_plane:
        return None
    store = runtime.store
    keeper = runtime.mesh.keeper if runtime.mesh is not None else None
    owns = False
    if keeper is None and store.db.dialect == "postgres":
        node = runtime.node_id or uuid.uuid4().hex[:12]
        keeper = LeaseKeeper(store.leases, f"{node}-flows", ttl=runtime.settings.lease_ttl)
        owns = True
    scheduler = FlowScheduler(
        FlowSchedules(store.db),
        engine,
        lambda: running_flows(runtime),
        keeper=keeper,
        owns_keeper=owns,
    )
    await scheduler.start()
    return scheduler
