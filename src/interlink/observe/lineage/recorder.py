"""Recording the hops of data subjects' data, off the data path.

The estate says which Events carry whose data (``subject: {type, key}``); :class:`Subjects`
compiles that once per revision. The hooks on the data path (the ingress publishing, a
subscription delivering, a flow step ending, a connector writing) call the recorder, which
does nothing for an event type without a subject (one dictionary lookup), and otherwise reads
the key and appends a hop to a list in memory, as a plain tuple with its time in microseconds
(:data:`~interlink.store.lineage_rows.Held`): no lock, no I/O, no await. A
:class:`Periodic` flush writes the list to the store in one transaction every ``interval``
seconds, and once more at stop. A failed write keeps the hops for the next one; past ``limit``
held hops new ones are dropped and counted, said at the next flush, so a store that is away
never grows the process without bound.

A flow run started by an event of such a type carries its subject in :data:`CURRENT_RUN`, a
context variable the node's runner sets around the run, so the steps that end and the
connector writes made inside the run are recorded without the engine or the connectors knowing
of subjects. The same :class:`RunLineage` collects what the run wrote, for OpenLineage.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

from interlink.estate.kinds import DataProduct, Event
from interlink.estate.model import Estate
from interlink.estate.subjects import SubjectKey
from interlink.observe.lineage.reads import PiiRead, read_hop
from interlink.observe.saving import Periodic
from interlink.store import Store
from interlink.store.lineage import HopKind, held, moment
from interlink.store.lineage_rows import Held

log = logging.getLogger("interlink.lineage")

#: Seconds between two writes of the held hops.
FLUSH_INTERVAL: Final = 1.0
#: Most hops held between two writes; more are dropped (and said).
MAX_HELD: Final = 100_000


def now_micros() -> int:
    """The time a hop is held with: microseconds since the epoch (a fifth of what an aware
    datetime costs to make, and stored as it is)."""
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Subjects:
    """Each Event type's subject (its type and compiled key), and every declared type."""

    by_event: Mapping[str, tuple[str, SubjectKey]]
    types: frozenset[str]
    publishers: Mapping[str, str]  # the System that publishes each of those Event types
    # Types whose subject key is their ordering key: a delivery reads it from the queued job
    # instead of parsing the event again.
    keyed: frozenset[str] = frozenset()

    @classmethod
    def of(cls, estate: Estate) -> Subjects:
        by_event: dict[str, tuple[str, SubjectKey]] = {}
        publishers: dict[str, str] = {}
        keyed: set[str] = set()
        types: set[str] = set()
        for item in estate.loaded_of("Event"):
            event = item.obj
            assert isinstance(event, Event)
            if event.spec.subject is not None:
                by_event[event.name] = (event.spec.subject.type, SubjectKey(event.spec.subject.key))
                publishers[event.name] = event.spec.system
                types.add(event.spec.subject.type)
                ordering = event.spec.ordering_key
                if ordering and event.spec.subject.key == f"data.{ordering}":
                    keyed.add(event.name)
        for item in estate.loaded_of("DataProduct"):
            product = item.obj
            assert isinstance(product, DataProduct)
            if product.spec.subject is not None:
                types.add(product.spec.subject.type)
        return cls(by_event, frozenset(types), publishers, frozenset(keyed))

    def of_event(self, event_type: str, event: Mapping[str, Any]) -> tuple[str, str] | None:
        """(subject type, key) of one event (the CloudEvent as a mapping); None without."""
        found = self.by_event.get(event_type)
        if found is None:
            return None
        key = found[1].extract(event)
        return None if key is None else (found[0], key)


def plain_key(ordering_key: str | None) -> TypeGuard[str]:
    """Whether an ordering key (a string as it was, anything else as JSON) is what the
    subject's key reads from the same field: a string or a number, not empty, not a
    boolean, an object or a list (which give no subject)."""
    if not ordering_key:
        return False
    return ordering_key not in _NOT_KEYS and ordering_key[0] not in "[{"


_NOT_KEYS: Final = frozenset({"true", "false"})


def subject_types(estate: Estate) -> frozenset[str]:
    """The subject types the estate's Events and DataProducts declare."""
    found = set()
    for kind in ("Event", "DataProduct"):
        for item in estate.loaded_of(kind):
            subject = getattr(item.obj.spec, "subject", None)
            if subject is not None:
                found.add(subject.type)
    return frozenset(found)


@dataclass
class RunLineage:
    """What one flow run carries while it runs: its subject (None without one) and what its
    steps wrote (``(System, operation, target)``), for OpenLineage's outputs."""

    flow: str
    run_id: str
    subject: tuple[str, str] | None = None
    event_type: str = ""
    event_id: str = ""
    recorder: LineageRecorder | None = None
    written: set[tuple[str, str, str]] = field(default_factory=set)


#: The flow run the current task works for, set by the node's runner around each run.
CURRENT_RUN: ContextVar[RunLineage | None] = ContextVar("interlink_lineage_run", default=None)


def note_written(system: str, operation: str, target: str) -> None:
    """A connector wrote ``target`` (a table, queue, path) on ``system``: kept for the run's
    OpenLineage outputs, and recorded as a hop when the run carries a subject."""
    run = CURRENT_RUN.get()
    if run is None:
        return
    run.written.add((system, operation, target))
    if run.subject is not None and run.recorder is not None:
        run.recorder.hop(
            run.subject,
            "written",
            f"Flow/{run.flow}",
            f"System/{system}",
            f"{operation} {target}".strip(),
            run.event_type,
            run.event_id,
            run.run_id,
        )


def note_called(system: str, method: str, path: str) -> None:
    """A flow's call changed something on ``system`` (any method but GET and HEAD): a
    ``written`` hop when the run carries a subject. Not an OpenLineage output: a path names a
    record (``/customers/C1/…``), not a dataset."""
    run = CURRENT_RUN.get()
    if run is None or run.subject is None or run.recorder is None:
        return
    if method.upper() in ("GET", "HEAD"):
        return
    run.recorder.hop(
        run.subject,
        "written",
        f"Flow/{run.flow}",
        f"System/{system}",
        f"{method.upper()} {path}",
        run.event_type,
        run.event_id,
        run.run_id,
    )


def note_step(flow: str, step: str) -> None:
    """Step ``step`` of the current run of ``flow`` completed: recorded when the run carries
    a subject."""
    run = CURRENT_RUN.get()
    if run is None or run.subject is None or run.recorder is None:
        return
    run.recorder.hop(
        run.subject,
        "transformed",
        f"Flow/{flow}",
        f"Flow/{flow}",
        f"step {step}",
        run.event_type,
        run.event_id,
        run.run_id,
    )


class LineageRecorder:
    """Holds hops in memory and writes them to ``store`` in batches."""

    def __init__(
        self,
        store: Store,
        estate: Estate,
        *,
        interval: float = FLUSH_INTERVAL,
        limit: int = MAX_HELD,
        clock: Callable[[], int] = now_micros,
    ) -> None:
        self.store = store
        self.subjects = Subjects.of(estate)
        self.limit = limit
        self.held: list[Held] = []
        self.dropped = 0
        self.written = 0  # hops written so far, for tests and the bench
        self._clock = clock
        self._periodic = Periodic(self.flush, interval)
        self._lock = asyncio.Lock()
        self._failing = False

    def use(self, estate: Estate) -> None:
        """Take a new revision's subjects."""
        self.subjects = Subjects.of(estate)

    # --- the hooks -----------------------------------------------------------------------

    def published(self, event_type: str, event: Mapping[str, Any], by: str = "") -> None:
        """An event was accepted from ``by`` (``Consumer/x``); without it, from the flow
        run publishing it, else from the System the Event names as its publisher."""
        subject = self.subjects.of_event(event_type, event)
        if subject is not None:
            by = by or self._publisher(event_type)
            target = f"Event/{event_type}"
            self.hop(subject, "published", by, target, "", event_type, str(event.get("id", "")))

    def published_keyed(
        self, event_type: str, event_id: str, ordering_key: str | None, by: str = ""
    ) -> bool:
        """:meth:`published` for an event whose type takes its subject's key from its
        ``ordering_key`` (as validation read it), without the event: False when the type
        does not, or the key is not one the subject's key would read the same (a boolean,
        an object), so the caller records it with :meth:`published`."""
        subjects = self.subjects
        if event_type not in subjects.keyed or not plain_key(ordering_key):
            return False
        subject = (subjects.by_event[event_type][0], ordering_key)
        by = by or self._publisher(event_type)
        self.hop(subject, "published", by, f"Event/{event_type}", "", event_type, event_id)
        return True

    def _publisher(self, event_type: str) -> str:
        """Who published an event no caller is named for: the flow run, else the System."""
        run = CURRENT_RUN.get()
        return f"Flow/{run.flow}" if run else f"System/{self.subjects.publishers[event_type]}"

    def delivered(
        self,
        event_type: str,
        subscription: str,
        target: str,
        event_id: str,
        body: bytes,
        ordering_key: str | None = None,
    ) -> None:
        """Subscription ``subscription`` delivered an event (its stored ``body``, its
        ``ordering_key``) to ``target`` (``System/x`` or ``Flow/y``)."""
        subjects = self.subjects
        found = subjects.by_event.get(event_type)
        if found is None:
            return
        actor = f"Subscription/{subscription}"
        if event_type in subjects.keyed and plain_key(ordering_key):
            keyed = (found[0], ordering_key)
            self.hop(keyed, "delivered", actor, target, "", event_type, event_id)
            return
        try:
            event = json.loads(body)
        except ValueError:
            return
        if isinstance(event, dict):
            subject = subjects.of_event(event_type, event)
            if subject is not None:
                self.hop(subject, "delivered", actor, target, "", event_type, event_id)

    def run_lineage(
        self, flow: str, run_id: str, event_type: str | None, event_id: str, input: Any
    ) -> RunLineage:
        """What a run of ``flow`` started by an event (``event_type``, its ``input`` data)
        carries: its subject when the type declares one, read from the data."""
        subject = None
        if event_type is not None:
            subject = self.subjects.of_event(event_type, {"data": input, "id": event_id})
        return RunLineage(flow, run_id, subject, event_type or "", event_id, self)

    def read(self, product: str, reader: str, read: PiiRead, via: str) -> None:
        """``reader`` read PII columns of ``product`` (reads.py): one record, whatever the
        product declares, held and written with the hops."""
        if len(self.held) >= self.limit:
            self.dropped += 1
            return
        self.held.append(held(read_hop(product, reader, read, via, moment(self._clock()))))

    def hop(
        self,
        subject: tuple[str, str],
        kind: HopKind,
        actor: str,
        target: str,
        detail: str = "",
        event_type: str = "",
        event_id: str = "",
        run_id: str = "",
    ) -> None:
        if len(self.held) >= self.limit:
            self.dropped += 1
            return
        self.held.append(
            (
                subject[0],
                subject[1],
                self._clock(),
                kind,
                actor,
                target,
                detail,
                event_type,
                event_id,
                run_id,
            )
        )

    # --- writing -------------------------------------------------------------------------

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def flush(self) -> int:
        """Write the held hops in one transaction; how many (0 when it failed: kept)."""
        async with self._lock:
            hops, self.held = self.held, []
            if self.dropped:
                log.warning(
                    "%d lineage hop(s) not recorded: over %d held", self.dropped, self.limit
                )
                self.dropped = 0
            if not hops:
                return 0
            try:
                await asyncio.to_thread(self.store.lineage.write, hops)
            except Exception as exc:
                if not self._failing:  # once a streak
                    log.warning("lineage hops not saved (kept for later): %s", exc)
                self._failing = True
                room = max(self.limit - len(self.held), 0)
                self.dropped += max(len(hops) - room, 0)
                self.held[:0] = hops[:room]
                return 0
            if self._failing:
                log.info("lineage hops saved again")
            self._failing = False
            self.written += len(hops)
            return len(hops)
