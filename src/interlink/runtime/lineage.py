"""Lineage on a serving node: the recorder of subjects' hops, its purge, OpenLineage events.

:class:`NodeLineage` holds the :class:`LineageRecorder` the mesh's ingress and delivery and the
flow runner record through, flushed every second. The hops older than the Platform's
``lineage.retention`` are purged every :data:`PURGE_EVERY` seconds, on a PostgreSQL store under
the cluster's ``lineage-retention`` lease (one node purges at a time), on SQLite by the one
process. With ``lineage.openLineageEndpoint`` set, each flow run sends a START when it is
recorded and a COMPLETE, FAIL or ABORT when it ends here, through one background emitter; a
reload that changes the endpoint replaces it.

A run carries its subject and collects what it wrote from the moment it is recorded on this
node; a run resumed on another node (its lease lapsed, its node restarted, a wait ended there)
reads its subject again from its stored input and trigger, so its later hops are recorded as
its earlier ones were (its end event lists what it wrote from then on).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from interlink.errors import ConfigError
from interlink.estate.kinds.delivery import Subscription
from interlink.estate.kinds.flow import Flow
from interlink.estate.model import Estate
from interlink.estate.references import resolve
from interlink.leases import HeldLease, LeaseKeeper, RepeatedPass
from interlink.observe.lineage import LineageRecorder, RunLineage
from interlink.observe.lineage.openlineage import (
    ENDS,
    OpenLineageEmitter,
    run_event,
    trigger_inputs,
    written_outputs,
)
from interlink.runtime.runtime import Runtime
from interlink.runtime.snapshot import Snapshot
from interlink.store import Store

log = logging.getLogger("interlink.lineage")

#: Seconds between purge passes.
PURGE_EVERY: Final = 600.0
#: The lease the purge of a cluster runs under.
LEASE: Final = "lineage-retention"


def purge_due(store: Store, retention: float, now: datetime | None = None) -> int:
    """Delete every hop older than ``retention`` seconds, batch after batch; how many."""
    before = (now or datetime.now(UTC)) - timedelta(seconds=retention)
    total = 0
    while True:
        gone = store.lineage.purge(before)
        total += gone
        if gone == 0:
            return total


class NodeLineage:
    def __init__(self, runtime: Runtime, *, purge_every: float = PURGE_EVERY) -> None:
        self.runtime = runtime
        estate = runtime.snapshot.estate
        self.recorder = LineageRecorder(runtime.store, estate)
        self.emitter: OpenLineageEmitter | None = None
        self._endpoint: str | None = None
        self._purge = RepeatedPass(LEASE, self._purge_pass, purge_every, "purging lineage")
        self._use_endpoint(estate)
        runtime.on_reload(self._reloaded)

    @property
    def estate(self) -> Estate:
        return self.runtime.snapshot.estate

    def start(self) -> None:
        self.recorder.start()

    async def start_purge(self, keeper: LeaseKeeper | None) -> None:
        """Purge under ``keeper``'s lease (a cluster), or here (alone)."""
        self._purge.start(keeper)

    async def close(self) -> None:
        await self._purge.close()
        await self.recorder.stop()
        if self.emitter is not None:
            await self.emitter.close()
            self.emitter = None

    async def purge_once(self) -> int:
        retention = self.estate.platform.spec.lineage.retention
        purged = await asyncio.to_thread(purge_due, self.runtime.store, retention)
        if purged:
            log.info("lineage purged: %d hop(s) older than the retention", purged)
        return purged

    async def _purge_pass(self, held: HeldLease | None) -> None:
        await self.purge_once()

    async def _reloaded(self, snapshot: Snapshot) -> None:
        self.recorder.use(snapshot.estate)
        old = self.emitter
        if self._use_endpoint(snapshot.estate) and old is not None:
            await old.close()

    def _use_endpoint(self, estate: Estate) -> bool:
        """Make the emitter the estate's endpoint asks for; whether it changed."""
        endpoint = estate.platform.spec.lineage.open_lineage_endpoint
        if endpoint == self._endpoint:
            return False
        self._endpoint = endpoint
        self.emitter = None
        if endpoint is not None:
            try:
                url = resolve(endpoint)
            except ConfigError as exc:
                log.warning("OpenLineage events are not sent: lineage.openLineageEndpoint: %s", exc)
                return True
            self.emitter = OpenLineageEmitter(url)
            self.emitter.start()
        return True

    # --- flow runs ------------------------------------------------------------------------

    def started(self, flow: str, run_id: str, trigger: str, input: Any) -> RunLineage:
        """What a newly recorded run carries; its START sent."""
        event_type, event_id = self._event_of(flow, trigger)
        carried = self.recorder.run_lineage(flow, run_id, event_type, event_id, input)
        if self.emitter is not None:
            spec = self._flow(flow)
            inputs = trigger_inputs(spec.spec) if spec is not None else []
            self.emitter.emit(self._event("START", flow, run_id, inputs, []))
        return carried

    @property
    def follows_runs(self) -> bool:
        """Whether runs carry anything: an Event type with a subject, or OpenLineage on."""
        return bool(self.recorder.subjects.by_event) or self.emitter is not None

    def resumed(self, flow: str, run_id: str, trigger: str, input: Any) -> RunLineage:
        """What a run recorded elsewhere carries here (no START: it was sent when recorded)."""
        event_type, event_id = self._event_of(flow, trigger)
        return self.recorder.run_lineage(flow, run_id, event_type, event_id, input)

    def ended(self, flow: str, run_id: str, status: str, carried: RunLineage | None) -> None:
        """The run stopped here with ``status``: its end sent when it is one."""
        end = ENDS.get(status)
        if self.emitter is None or end is None:
            return
        spec = self._flow(flow)
        inputs = trigger_inputs(spec.spec) if spec is not None else []
        outputs = written_outputs(carried.written) if carried is not None else []
        self.emitter.emit(self._event(end, flow, run_id, inputs, outputs))

    def _event(
        self, kind: Any, flow: str, run_id: str, inputs: list[Any], outputs: list[Any]
    ) -> dict[str, Any]:
        namespace = self.estate.platform.spec.lineage.open_lineage_namespace
        return run_event(
            kind, namespace=namespace, job=flow, run_id=run_id, inputs=inputs, outputs=outputs
        )

    def _flow(self, name: str) -> Flow | None:
        item = self.estate.get("Flow", name)
        return item.obj if item is not None and isinstance(item.obj, Flow) else None

    def _event_of(self, flow: str, trigger: str) -> tuple[str | None, str]:
        """The Event type and event id a run's trigger names (``event:<sub>:<id>``)."""
        kind, _, rest = trigger.partition(":")
        if kind != "event":
            return None, ""
        subscription, _, event_id = rest.partition(":")
        item = self.estate.get("Subscription", subscription)
        if item is not None and isinstance(item.obj, Subscription):
            return item.obj.spec.event, event_id
        spec = self._flow(flow)  # the Subscription a Flow's trigger.event implies
        trigger_of = spec.spec.trigger if spec is not None else None
        return (trigger_of.event if trigger_of is not None else None), event_id
