"""Job-level lineage: OpenLineage run events for flow runs and connector syncs.

Each run of a Flow is an OpenLineage run of the job named after the flow, in the Platform's
``lineage.openLineageNamespace``: a ``START`` when it begins and a ``COMPLETE`` or ``FAIL``
when it ends (``FAIL`` for failed and compensated runs). A run started by a poll, watch or
consume trigger is a connector sync: the same events, its input the table, path or queue read.
Inputs are what started the run (an Event type is the dataset ``Event/<type>`` in namespace
``interlink``'s events; a System's table is ``<table>`` in namespace ``System/<name>``);
outputs are what its steps wrote through the connectors.

:class:`OpenLineageEmitter` sends the events to ``lineage.openLineageEndpoint`` as JSON POSTs,
from a bounded queue drained by one background task: a refused or failed POST is tried again
(``retries`` times, backing off), then dropped and counted, never holding a run up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal

from interlink import __version__
from interlink.estate.kinds.flow import FlowSpec
from interlink.http.client import HttpClient
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.lineage")

#: The producer every event names (OpenLineage wants a URI: a URN names it without a host).
PRODUCER: Final = f"urn:interlink:{__version__}"
SCHEMA_URL: Final = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#: The namespace of the datasets that are Event types.
EVENTS_NAMESPACE: Final = "interlink"
EventType = Literal["START", "COMPLETE", "FAIL", "ABORT", "OTHER"]
#: How a run's status ends its OpenLineage run.
ENDS: Final[dict[str, EventType]] = {
    "completed": "COMPLETE",
    "filtered": "COMPLETE",
    "duplicate": "COMPLETE",
    "failed": "FAIL",
    "compensated": "FAIL",
    "cancelled": "ABORT",
}
_NAMESPACE: Final = uuid.UUID("0b7c2f9e-8a41-4d0c-9d3e-5f1a6b2c7e90")


def run_uuid(run_id: str) -> str:
    """The run's id as OpenLineage wants it (a UUID): itself when it is one, else derived."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, run_id))


def trigger_inputs(spec: FlowSpec) -> list[dict[str, str]]:
    """The dataset the flow's trigger reads: an Event type, a table, a path, a queue."""
    trigger = spec.trigger
    if trigger is None:
        return []
    if trigger.event is not None:
        return [dataset(EVENTS_NAMESPACE, f"Event/{trigger.event}")]
    poll = trigger.poll
    if poll is not None:
        where = poll.system or f"Api/{poll.api}"
        name = poll.table or poll.stream or poll.path or "query"
        return [dataset(f"System/{where}" if poll.system else where, name)]
    if trigger.watch is not None:
        return [dataset(f"System/{trigger.watch.system}", trigger.watch.prefix or "/")]
    if trigger.consume is not None:
        return [dataset(f"System/{trigger.consume.system}", trigger.consume.source)]
    return []


def dataset(namespace: str, name: str) -> dict[str, str]:
    return {"namespace": namespace, "name": name}


def written_outputs(written: Iterable[tuple[str, str, str]]) -> list[dict[str, str]]:
    """What a run wrote, ``(System, operation, target)``, as datasets (one per target)."""
    seen = sorted({(system, target or operation) for system, operation, target in written})
    return [dataset(f"System/{system}", target) for system, target in seen]


def run_event(
    event_type: EventType,
    *,
    namespace: str,
    job: str,
    run_id: str,
    inputs: list[dict[str, str]],
    outputs: list[dict[str, str]],
    at: datetime | None = None,
) -> dict[str, Any]:
    """One OpenLineage RunEvent."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return {
        "eventType": event_type,
        "eventTime": moment.isoformat().replace("+00:00", "Z"),
        "run": {"runId": run_uuid(run_id)},
        "job": {"namespace": namespace, "name": job},
        "inputs": inputs,
        "outputs": outputs,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    }


class OpenLineageEmitter:
    """POSTs run events to ``endpoint`` in the background; what it cannot send is counted."""

    def __init__(
        self,
        endpoint: str,
        *,
        client: HttpClient | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        limit: int = 10_000,
        timeout: float = 5.0,
    ) -> None:
        self.endpoint = endpoint
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.sent = 0
        self.failed = 0  # events given up on (after their retries) or not queued (full)
        self._client = client or HttpClient(connect_timeout=timeout, read_timeout=timeout)
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=limit)
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def emit(self, event: dict[str, Any]) -> None:
        """Queue ``event`` to be sent; never waits."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.failed += 1

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def flush(self, timeout: float = 5.0) -> None:
        """Return once everything queued was sent or given up on (or ``timeout`` passed)."""
        try:
            async with asyncio.timeout(timeout):
                await self._queue.join()
        except TimeoutError:
            pass

    async def close(self, grace: float = 2.0) -> None:
        if self._task is not None:
            await self.flush(grace)
        await cancel_and_wait([self._task])
        self._task = None
        await self._client.aclose()

    async def _drain(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._send(event)
            finally:
                self._queue.task_done()

    async def _send(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {"content-type": "application/json"}
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                async with asyncio.timeout(self.timeout):
                    response = await self._client.request("POST", self.endpoint, headers, body)
                    await response.read()
            except Exception as exc:  # unreachable, reset, timed out: tried again
                problem = " ".join(str(exc).split()) or type(exc).__name__
                continue
            if 200 <= response.status < 300:
                self.sent += 1
                if self._failing:
                    log.info("OpenLineage events are accepted again")
                self._failing = False
                return
            problem = f"HTTP {response.status}"
            if response.status < 500 and response.status != 429:
                break  # refused for good: trying again would be refused the same
        self.failed += 1
        if not self._failing:  # once a streak; the endpoint's path may hold a secret
            log.warning("an OpenLineage event was not accepted: %s", problem)
        self._failing = True
