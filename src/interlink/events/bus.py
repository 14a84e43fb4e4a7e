"""The event log behind one interface: append, consume per subscription, read back for replay.

Two backends implement it: ``backends.embedded`` (an append-only SQLite log with group commit)
and ``backends.nats`` (NATS JetStream). Both keep one stream per event type, so a sequence
number is a position in that type's log, and one durable consumer per subscription, whose
cursor survives restarts. The bus only moves events and remembers how far each consumer got;
retry schedules, dead letters and ordering per key are the delivery layer's job, the same on
both backends.

Guarantees every backend gives (the conformance suite in tests proves them):

- ``publish`` returns only once every event in the batch is durable; on any failure it raises
  ``BusUnavailable`` and the caller may retry the whole batch (deduplication makes that safe).
- an event whose ``source`` and ``id`` were appended within the stream's dedup window is not
  appended again; its ``Appended`` says ``duplicate=True`` and carries the first sequence.
- ``pull`` hands a consumer the events of its type after its cursor, in sequence order; an
  event pulled and not acked is handed out again after a restart (at least once).
- ``read`` returns stored events of one type from a sequence or a time, for replay and tail.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Literal, Self

StartAt = Literal["new", "earliest"] | datetime


@dataclass(frozen=True)
class Envelope:
    """A validated event ready to append: its identity, ordering key and CloudEvent body.

    ``body`` is the structured-mode CloudEvent (JSON bytes), exactly what a webhook receives.
    """

    type: str
    id: str
    source: str
    key: str | None
    body: bytes

    @property
    def dedup_id(self) -> str:
        """One id per (source, id) pair, short enough for a NATS header."""
        digest = hashlib.sha256(f"{self.source}\x00{self.id}".encode()).hexdigest()
        return digest[:32]


@dataclass(frozen=True)
class Appended:
    seq: int
    duplicate: bool = False


@dataclass(frozen=True)
class Message:
    """A stored event as a consumer or a reader sees it."""

    type: str
    seq: int
    id: str
    source: str
    key: str | None
    body: bytes
    stored_at: datetime
    deliveries: int = 1  # how many times this consumer has been handed it (1 = first time)


@dataclass(frozen=True)
class StreamSpec:
    """One event type's log, from an Event object and the Platform settings."""

    type: str
    dedup_window: float  # seconds
    max_payload_bytes: int


@dataclass(frozen=True)
class ConsumerSpec:
    """One subscription's durable cursor over its event type."""

    name: str
    type: str
    start_at: StartAt = "new"
    # When the consumer has to be created (again), start right after this sequence instead:
    # the last one the delivery queue took, so a consumer lost on the server resumes there.
    resume_after: int | None = None


@dataclass(frozen=True)
class StreamInfo:
    type: str
    first_seq: int  # 0 when empty
    last_seq: int  # 0 when empty
    count: int


class Bus(ABC):
    """The event log. Implementations are used from one asyncio loop."""

    @abstractmethod
    async def open(self) -> None:
        """Connect; raise ``BusUnavailable`` when the backend does not answer."""

    @abstractmethod
    async def close(self) -> None:
        """Flush what is pending and disconnect; idempotent."""

    @abstractmethod
    async def ensure(
        self,
        streams: Sequence[StreamSpec],
        consumers: Sequence[ConsumerSpec],
        *,
        prune: bool = False,
    ) -> None:
        """Create or update streams and consumers to match the estate; idempotent and additive.

        A consumer that already exists keeps its cursor (its ``start_at`` applies only when it
        is created). Consumers of this bus that are not listed are removed only with ``prune``,
        and a listed one found on another type's stream is moved only with ``prune``: several
        nodes share a bus, and one running an older revision must not undo a newer one's work.
        Only the node holding the reconcile lease on the current revision prunes.
        """

    @abstractmethod
    async def publish(self, envelopes: Sequence[Envelope]) -> list[Appended]:
        """Append a batch; return once all of it is durable, one ``Appended`` per envelope."""

    @abstractmethod
    async def pull(self, consumer: str, max_messages: int, timeout: float) -> list[Message]:
        """Up to ``max_messages`` events after the consumer's cursor, waiting up to ``timeout``
        seconds for the first one; an empty list when none arrived."""

    @abstractmethod
    async def ack(self, consumer: str, seqs: Sequence[int]) -> None:
        """Mark pulled events as handled; the cursor moves past every acked event."""

    @abstractmethod
    async def read(self, type: str, start: int | datetime, limit: int) -> list[Message]:
        """Stored events of ``type`` from sequence ``start`` (inclusive) or from a time."""

    @abstractmethod
    async def info(self, type: str) -> StreamInfo:
        """Positions and size of one type's log."""

    @abstractmethod
    async def pending(self, consumer: str) -> int:
        """How many stored events the consumer has not acked yet (its lag)."""

    @abstractmethod
    async def handed_out(self, consumer: str) -> tuple[int, int]:
        """(the highest sequence handed out, the sequence up to which all are acked). While
        the first is ahead, events handed out (maybe to a node that died) are not settled."""

    async def extend(self, consumer: str, seqs: Sequence[int]) -> None:
        """Say pulled events are still being worked on, so they are not handed out again yet
        (a no-op where nothing is handed out again while this process lives)."""
        del consumer, seqs

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
