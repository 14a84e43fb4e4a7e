"""The purge of flow run history on a serving node: :func:`start_retention`, one call.

On a PostgreSQL store the purge runs under the cluster's ``flow-retention`` lease, with the
event mesh's lease keeper when the mesh is up (its own keeper otherwise), so one node purges at
a time and another takes over when it stops. On SQLite the one process purges. The retention
periods are read from the running estate's Platform at every pass, so a reload changes them.
"""

from __future__ import annotations

import uuid
from typing import Final

from interlink.flows.retention import RetentionJob, RetentionSettings, RunRetention
from interlink.leases import LeaseKeeper
from interlink.runtime.runtime import Runtime

#: Seconds between purge passes; one pass deletes everything due, batch after batch.
PURGE_EVERY: Final = 300.0


async def start_retention(runtime: Runtime, interval: float = PURGE_EVERY) -> RetentionJob:
    """Start purging the flow history past its retention; the caller closes what it gets back
    when the server stops."""
    store = runtime.store
    keeper = runtime.mesh.keeper if runtime.mesh is not None else None
    owns = False
    if keeper is None and store.db.dialect == "postgres":
        node = runtime.node_id or uuid.uuid4().hex[:12]
        keeper = LeaseKeeper(store.leases, f"{node}-retention", ttl=runtime.settings.lease_ttl)
        owns = True
    retention = RunRetention(store.db, lambda: RetentionSettings.of(runtime.snapshot.estate))
    job = RetentionJob(retention, keeper=keeper, owns_keeper=owns, interval=interval)
    await job.start()
    return job
