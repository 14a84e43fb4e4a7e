"""The alerts on a serving node: :func:`start_alerts`, one call.

The node books every verdict handed to ``runtime.alerts`` (the monitors' evaluator is its
caller) and sends the queued notifications under the cluster's ``alert-sender`` lease, with the
event mesh's lease keeper when the mesh is up (its own keeper on PostgreSQL otherwise), so one
node sends at a time. On SQLite the one process sends. The estate is read at each verdict and
each pass, so a reload changes teams, channels and schedules at once.
"""

from __future__ import annotations

import uuid

from interlink.alerts import Alerts
from interlink.leases import LeaseKeeper
from interlink.runtime.runtime import Runtime


async def start_alerts(runtime: Runtime) -> Alerts:
    """Start the alerts; the caller closes what it gets back when the server stops."""
    store = runtime.store
    keeper = runtime.mesh.keeper if runtime.mesh is not None else None
    owned: LeaseKeeper | None = None
    if keeper is None and store.db.dialect == "postgres":
        node = runtime.node_id or uuid.uuid4().hex[:12]
        keeper = owned = LeaseKeeper(store.leases, f"{node}-alerts", ttl=runtime.settings.lease_ttl)
    alerts = Alerts(store, lambda: runtime.snapshot.estate, metrics=runtime.metrics, keeper=keeper)
    await alerts.start()
    if owned is not None:
        await owned.start()
        alerts.owned_keeper = owned
    return alerts
