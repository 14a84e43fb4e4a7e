"""The durable delivery queue: one row per (subscription, event) still to deliver or dead.

The bus hands each subscription its events once; the queue remembers every one until it is
delivered, dead-lettered or dropped, with its attempt count, next attempt time and the last
response. It lives in the platform store's database (SQLite or PostgreSQL, same URL), in the
``deliveries``, ``subscription_state`` and ``delivery_replays`` tables that ``migrations/``
beside this module creates (version 0002, applied by ``Store.migrate``). ``queue_sql.py``
holds the statements both databases share, ``queue_sqlite.py`` and ``queue_postgres.py`` what
differs, and ``queues.py`` picks one for a store URL.

A row is keyed by (subscription, seq, replay): ``seq`` is the event's position in its type's
log and ``replay`` is 0 for live delivery or the id of the replay that copied it, so enqueueing
the same event twice adds nothing, and a replay never collides with the live row. A delivered
or dropped row is not deleted but becomes a *tombstone* (state ``done``, body dropped) that
``sweep`` removes after a retention: the bus hands an event out again when the node that
enqueued it died before acking it, possibly after another node has delivered the row, and the
tombstone's key makes that enqueue add nothing. Only ``pending`` and ``dead`` rows are ever
read as deliveries. Every method is batched, because a delivery costs one insert and one update
and the queue must keep up with thousands of them a second.

With several nodes, a subscription's writes can be *fenced* by its lease: ``enqueue`` and
``complete`` given a :class:`Fence` take effect only while the ``leases`` table still gives the
lease to that owner under that token, in the same transaction, and raise ``LeaseLost``
otherwise, so a node that lost a subscription cannot write over its successor's work.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Final, Literal, Self

from interlink.errors import NotFound
from interlink.events.bus import Message

RESPONSE_LIMIT: Final = 4096
"""Characters of a receiver's response body kept with a failed delivery."""

State = Literal["pending", "dead"]
Result = Literal["delivered", "retry", "dead", "dropped"]


@dataclass(frozen=True, order=True)
class JobKey:
    """Which row: ``str(key)`` is the id the admin API and the CLI show (``sub:seq[:replay]``)."""

    subscription: str
    seq: int
    replay: int = 0

    @property
    def columns(self) -> tuple[str, int, int]:
        return (self.subscription, self.seq, self.replay)

    def __str__(self) -> str:
        base = f"{self.subscription}:{self.seq}"
        return base if self.replay == 0 else f"{base}:{self.replay}"

    @classmethod
    def parse(cls, id: str) -> JobKey:
        # Subscription names never contain ":", so the split is unambiguous.
        parts = id.split(":")
        try:
            numbers = [int(p) for p in parts[1:]]
        except ValueError:
            numbers = []
        # Sequences are 64-bit in the store: a larger number names no row (and overflows).
        whole = len(parts) in (2, 3) and len(numbers) == len(parts) - 1
        if whole and all(0 <= n < 1 << 63 for n in numbers):
            return cls(parts[0], *numbers)
        raise NotFound(f"delivery {id!r} not found: ids look like SUBSCRIPTION:SEQ[:REPLAY]")


@dataclass(frozen=True)
class Job:
    """A pending delivery handed to the dispatcher."""

    key: JobKey
    event_id: str
    ordering_key: str | None
    body: bytes
    attempt: int  # attempts made so far
    published_at: datetime


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt; ``complete`` applies a batch of them.

    ``delivered`` and ``dropped`` make the row a tombstone; ``retry`` keeps it pending with
    ``attempt`` and ``next_at``; ``dead`` moves it to the dead-letter queue. The last status,
    error and (truncated) response are kept on the row for people to read.
    """

    key: JobKey
    result: Result
    attempt: int = 0
    next_at: datetime | None = None
    status: int | None = None
    error: str | None = None
    response: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One row as the dead-letter views show it."""

    key: JobKey
    event_id: str
    ordering_key: str | None
    body: bytes
    state: State
    attempt: int
    next_at: datetime
    published_at: datetime
    created_at: datetime
    updated_at: datetime
    last_status: int | None
    last_error: str | None
    last_response: str | None

    @property
    def id(self) -> str:
        return str(self.key)

    @property
    def replayed(self) -> bool:
        return self.key.replay != 0


@dataclass(frozen=True)
class Page:
    items: list[Delivery]
    next_cursor: str | None  # pass back as ``cursor`` for the next page; None at the end


@dataclass(frozen=True)
class ReplayRecord:
    """A replay as the store keeps it, whichever node ran it, with its copies counted."""

    id: int
    subscription: str
    requested_at: datetime
    finished_at: datetime | None  # None while it is still reading the log (or its node died)
    enqueued: int | None
    pending: int  # copies not delivered yet
    dead: int  # copies in the dead-letter queue
    done: int  # copies delivered, dropped or discarded (tombstones, until swept)


@dataclass(frozen=True)
class Disabled:
    """A subscription switched off (a receiver answered 410, or an operator did it)."""

    subscription: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class Fence:
    """The lease a subscription's writes are made under (``leases`` row ``lease``)."""

    lease: str
    owner: str
    token: int

    @property
    def columns(self) -> tuple[str, str, int]:
        return (self.lease, self.owner, self.token)


def truncate(text: str | None, limit: int = RESPONSE_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "…"


class DeliveryQueue(ABC):
    """The queue; used from one asyncio loop. Times are UTC-aware datetimes the caller gives,
    so the engine's clock (real or fake) decides what "due" means."""

    @property
    @abstractmethod
    def url(self) -> str:
        """The database URL, password redacted."""

    @abstractmethod
    async def open(self) -> None:
        """Connect; the tables must exist (``Store.migrate`` on the same URL creates them)."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect; idempotent."""

    @abstractmethod
    async def enqueue(
        self,
        subscription: str,
        messages: Sequence[Message],
        now: datetime,
        replay: int = 0,
        *,
        fence: Fence | None = None,
    ) -> int:
        """Add one pending row per message, due at ``now``; rows that exist, tombstones
        included, are left alone. Return how many were new; raise ``LeaseLost`` (adding
        nothing) when ``fence`` no longer holds."""

    @abstractmethod
    async def due(
        self,
        subscription: str,
        now: datetime,
        limit: int,
        exclude: Sequence[JobKey] = (),
        *,
        ordered: bool = False,
    ) -> list[Job]:
        """Up to ``limit`` pending jobs due at ``now``, earliest first, except ``exclude``
        (the ones in flight). When ``ordered``, only the lowest pending (seq, replay) of each
        ordering key is eligible: a failing event holds its key's later events, not others."""

    @abstractmethod
    async def next_due(
        self, subscription: str, exclude: Sequence[JobKey] = (), *, ordered: bool = False
    ) -> datetime | None:
        """When the earliest job ``due`` could return becomes due; None when there is none."""

    async def take(
        self,
        subscription: str,
        now: datetime,
        limit: int,
        exclude: Sequence[JobKey] = (),
        *,
        ordered: bool = False,
    ) -> tuple[list[Job], datetime | None]:
        """What ``due`` returns and, when it returns fewer than ``limit``, what ``next_due``
        would say next: the dispatch loop's one question per round."""
        jobs = await self.due(subscription, now, limit, exclude, ordered=ordered)
        if len(jobs) == limit:
            return jobs, None
        busy = [*exclude, *(job.key for job in jobs)]
        return jobs, await self.next_due(subscription, busy, ordered=ordered)

    @abstractmethod
    async def complete(
        self, outcomes: Sequence[Outcome], now: datetime, *, fence: Fence | None = None
    ) -> None:
        """Apply a batch of outcomes in one transaction; raise ``LeaseLost`` (applying
        nothing) when ``fence`` no longer holds."""

    @abstractmethod
    async def sweep(self, subscription: str, before: datetime, limit: int) -> int:
        """Remove up to ``limit`` of the subscription's tombstones made before ``before``;
        how many went."""

    @abstractmethod
    async def list_dead(
        self, subscription: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """Dead-lettered rows in id order, one page at a time."""

    @abstractmethod
    async def get(self, id: str | JobKey) -> Delivery:
        """One row, pending or dead; raises ``NotFound`` (for a tombstone too)."""

    @abstractmethod
    async def retry(self, ids: Sequence[str | JobKey], now: datetime) -> int:
        """Make dead rows pending again, due now, with the attempt count reset."""

    @abstractmethod
    async def retry_all(self, subscription: str, now: datetime) -> int:
        """``retry`` for every dead row of a subscription."""

    @abstractmethod
    async def discard(self, ids: Sequence[str | JobKey]) -> int:
        """Delete dead rows for good; pending rows are left alone."""

    @abstractmethod
    async def advance(self, subscription: str, type: str, seq: int, now: datetime) -> None:
        """Record that live delivery took ``type``'s log into the queue up to ``seq``; the
        recorded position never goes back (a type change starts it again)."""

    @abstractmethod
    async def position(self, subscription: str, type: str) -> int | None:
        """The sequence ``advance`` last recorded for ``subscription`` on ``type``."""

    @abstractmethod
    async def depth(self, subscription: str) -> int:
        """Pending rows (the part of the lag the bus no longer counts)."""

    @abstractmethod
    async def dlq_depth(self, subscription: str) -> int:
        """Dead rows."""

    @abstractmethod
    async def disable(self, subscription: str, reason: str, now: datetime) -> None:
        """Record the subscription as disabled; survives restarts."""

    @abstractmethod
    async def enable(self, subscription: str) -> bool:
        """Clear the disabled mark; False when it was not disabled."""

    @abstractmethod
    async def disabled(self) -> dict[str, Disabled]:
        """Every disabled subscription."""

    @abstractmethod
    async def start_replay(
        self,
        subscription: str,
        start: int | datetime,
        end: int | datetime | None,
        now: datetime,
    ) -> int:
        """Record a replay and return its id (> 0), used as ``replay`` for its rows."""

    @abstractmethod
    async def finish_replay(self, replay: int, enqueued: int, now: datetime) -> None:
        """Record how many rows a replay added."""

    @abstractmethod
    async def replay_record(self, replay: int) -> ReplayRecord | None:
        """The replay ``replay`` with its copies counted by state; None when unknown."""

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


def keys_of(ids: Sequence[str | JobKey]) -> list[JobKey]:
    return [JobKey.parse(i) if isinstance(i, str) else i for i in ids]
