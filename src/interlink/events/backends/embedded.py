"""The embedded event log: one append-only SQLite file, for a single process.

Durability and throughput come from group commit. ``publish`` only queues its batch; one
writer task takes everything queued, appends it in one transaction in the writer thread (WAL,
``synchronous=FULL``: one fsync per transaction) and then resolves every waiting publish. Acks
ride in the same transactions. The event loop never touches the disk.

Consumers keep their cursor (every event up to it is acked) in the file. What is handed out and
not yet acked, and acks above the cursor, live in memory: after a restart everything after the
cursor is handed out again. An event handed out and not acked within ``ack_wait`` is handed out
again too, with the backoff in ``common.redelivery_delays``. One process serves a file's
consumers; other processes may read it.

Deduplication looks ids up in memory (``sqlite_log.DedupIndex``, rebuilt from the log on open),
which keeps an append to one sequential insert per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from interlink.errors import BusError, BusUnavailable, UnknownConsumer, UnknownEventType
from interlink.events.backends.common import (
    DEFAULT_ACK_WAIT,
    Clock,
    check_batch,
    redelivery_delay,
    utcnow,
)
from interlink.events.backends.sqlite_log import (
    AppendResult,
    ConsumerRow,
    SQLiteLog,
    StreamRow,
    to_micros,
)
from interlink.events.bus import (
    Appended,
    Bus,
    ConsumerSpec,
    Envelope,
    Message,
    StreamInfo,
    StreamSpec,
)

T = TypeVar("T")

RETRY_AFTER: Final = 1.0


def default_events_path(estate_dir: Path) -> Path:
    """The embedded log's file for an estate: beside the store, under ``.interlink``."""
    return estate_dir / ".interlink" / "events.db"


@dataclass
class _Append:
    envelopes: Sequence[Envelope]
    future: asyncio.Future[list[Appended]]


@dataclass
class _Cursor:
    consumer: str
    cursor: int
    future: asyncio.Future[None]


@dataclass
class _Call:
    """Work that runs alone in the writer thread, in queue order (``ensure``)."""

    fn: Callable[[], Any]
    future: asyncio.Future[Any]


_Job = _Append | _Cursor | _Call


@dataclass
class _InFlight:
    deliveries: int
    due: float  # time.monotonic() after which it is handed out again


@dataclass
class _Consumer:
    name: str
    type: str
    cursor: int  # every event up to here is acked
    handed: int  # the highest sequence handed out so far
    acked: set[int] = field(default_factory=set)  # acked, above the cursor
    in_flight: dict[int, _InFlight] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class EmbeddedBus(Bus):
    """``Bus`` on an SQLite file; ``transactions`` counts the append transactions committed."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = utcnow,
        ack_wait: float = DEFAULT_ACK_WAIT,
        max_group_events: int = 20_000,
    ) -> None:
        self.path = Path(path)
        self.transactions = 0
        self._clock = clock
        self._ack_wait = ack_wait
        self._max_group = max_group_events
        self._log = SQLiteLog(self.path)
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._state: Literal["new", "open", "closing", "closed"] = "new"
        self._streams: dict[str, StreamRow] = {}
        self._limits: dict[str, int] = {}
        self._consumers: dict[str, _Consumer] = {}
        self._jobs: deque[_Job] = deque()
        self._wake = asyncio.Event()
        self._signals: dict[str, asyncio.Event] = {}
        self._writer_task: asyncio.Task[None] | None = None

    # --- life cycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._state == "open":
            return
        if self._state != "new":
            raise BusError("an embedded bus cannot be reopened; create a new one")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="interlink-events-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="interlink-events-reader")
        try:
            now = to_micros(self._clock())
            await self._in(self._writer, lambda: self._log.open_writer(now))
            await self._in(self._reader, self._log.open_reader)
            streams, consumers = await self._in(self._reader, self._log.load)
        except (sqlite3.Error, OSError) as exc:
            await self._shutdown_threads()
            self._state = "closed"
            raise BusUnavailable(
                f"cannot open the event log {self.path}: {exc}", retry_after=RETRY_AFTER
            ) from None
        self._load(streams, consumers)
        self._state = "open"
        self._writer_task = asyncio.create_task(self._write_loop(), name="interlink-events-writer")

    async def close(self) -> None:
        if self._state != "open":
            self._state = "closed" if self._state == "new" else self._state
            return
        self._state = "closing"
        self._wake.set()
        if self._writer_task is not None:
            await self._writer_task  # drains every queued publish and ack first
        for signal in self._signals.values():
            signal.set()
        await self._shutdown_threads()
        self._state = "closed"

    async def _shutdown_threads(self) -> None:
        if self._writer is not None:
            await self._in(self._writer, self._log.close_writer)
            self._writer.shutdown(wait=False)
        if self._reader is not None:
            await self._in(self._reader, self._log.close_reader)
            self._reader.shutdown(wait=False)

    # --- topology ---------------------------------------------------------------------------------

    async def ensure(
        self,
        streams: Sequence[StreamSpec],
        consumers: Sequence[ConsumerSpec],
        *,
        prune: bool = False,
    ) -> None:
        self._check_open()
        now = to_micros(self._clock())
        future: asyncio.Future[tuple[list[StreamRow], list[ConsumerRow]]]
        future = asyncio.get_running_loop().create_future()
        self._submit(_Call(lambda: self._log.ensure(streams, consumers, now, prune), future))
        stream_rows, consumer_rows = await future
        self._load(stream_rows, consumer_rows)

    def _load(self, streams: list[StreamRow], consumers: list[ConsumerRow]) -> None:
        for row in streams:
            # The in-memory last_seq can be ahead of a row read before a commit landed.
            known = self._streams.get(row.type)
            if known is not None:
                row.last_seq = max(row.last_seq, known.last_seq)
            self._streams[row.type] = row
        self._limits = {row.type: row.max_payload for row in self._streams.values()}
        kept: dict[str, _Consumer] = {}
        for c in consumers:
            current = self._consumers.get(c.name)
            if current is not None and current.type == c.type:
                kept[c.name] = current  # keeps what is in flight and acks not yet written
            else:
                kept[c.name] = _Consumer(c.name, c.type, cursor=c.cursor, handed=c.cursor)
        self._consumers = kept

    # --- publishing -------------------------------------------------------------------------------

    async def publish(self, envelopes: Sequence[Envelope]) -> list[Appended]:
        self._check_open()
        if not envelopes:
            return []
        check_batch(envelopes, self._limits)
        future: asyncio.Future[list[Appended]] = asyncio.get_running_loop().create_future()
        self._submit(_Append(envelopes, future))
        return await future

    def _submit(self, job: _Job) -> None:
        self._jobs.append(job)
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            if not self._jobs:
                if self._state != "open":
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            head = self._jobs[0]
            if isinstance(head, _Call):
                self._jobs.popleft()
                await self._run_call(head)
            else:
                await self._commit(self._take_group())

    def _take_group(self) -> list[_Append | _Cursor]:
        group: list[_Append | _Cursor] = []
        events = 0
        while self._jobs:
            job = self._jobs[0]
            if isinstance(job, _Call):
                break
            size = len(job.envelopes) if isinstance(job, _Append) else 0
            if group and events + size > self._max_group:
                break
            self._jobs.popleft()
            group.append(job)
            events += size
        return group

    async def _commit(self, group: list[_Append | _Cursor]) -> None:
        appends = [job for job in group if isinstance(job, _Append)]
        cursors: dict[str, int] = {}
        for job in group:
            if isinstance(job, _Cursor):
                cursors[job.consumer] = max(job.cursor, cursors.get(job.consumer, 0))
        now = to_micros(self._clock())
        batches = [job.envelopes for job in appends]
        assert self._writer is not None
        try:
            result: AppendResult = await self._in(
                self._writer, lambda: self._log.append(batches, cursors, now)
            )
        except Exception as exc:
            for job in group:
                _fail(job.future, self._error(exc))
            return
        self.transactions += 1
        for row in result.streams:
            known = self._streams[row.type]
            known.last_seq = max(known.last_seq, row.last_seq)
            signal = self._signals.pop(row.type, None)
            if signal is not None:
                signal.set()
        for append, appended in zip(appends, result.appended, strict=True):
            if not append.future.done():
                append.future.set_result(appended)
        for job in group:
            if isinstance(job, _Cursor) and not job.future.done():
                job.future.set_result(None)

    async def _run_call(self, call: _Call) -> None:
        assert self._writer is not None
        try:
            result = await self._in(self._writer, call.fn)
        except Exception as exc:
            _fail(call.future, self._error(exc))
        else:
            if not call.future.done():
                call.future.set_result(result)

    def _error(self, exc: BaseException) -> BusError:
        if isinstance(exc, BusError):
            return type(exc)(exc.message, retry_after=exc.retry_after)
        return BusUnavailable(f"event log {self.path}: {exc}", retry_after=RETRY_AFTER)

    # --- consuming --------------------------------------------------------------------------------

    async def pull(self, consumer: str, max_messages: int, timeout: float) -> list[Message]:
        self._check_open()
        state = self._consumer(consumer)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            # Taken before looking, so an append committed meanwhile still wakes this pull.
            signal = self._signals.setdefault(state.type, asyncio.Event())
            async with state.lock:
                if self._consumers.get(consumer) is not state:
                    raise UnknownConsumer(f"consumer {consumer!r} was removed")
                messages = await self._take(state, max_messages)
            if messages or self._state != "open":
                return messages
            now = time.monotonic()
            if now >= deadline:
                return []
            wait = deadline - now
            if state.in_flight:  # wake up for the next redelivery, too
                soonest = min(f.due for f in state.in_flight.values())
                wait = min(wait, max(soonest - now, 0.0) + 0.001)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), wait)

    async def _take(self, state: _Consumer, limit: int) -> list[Message]:
        if limit < 1:
            return []
        now = time.monotonic()
        again = sorted(seq for seq, f in state.in_flight.items() if f.due <= now)[:limit]
        fresh = limit - len(again)
        after = state.handed if fresh > 0 and state.handed < self._last_seq(state.type) else None
        if not again and after is None:
            return []
        assert self._reader is not None
        rows = await self._in(self._reader, lambda: self._log.take(state.type, again, after, fresh))
        now = time.monotonic()
        out: list[Message] = []
        for message in rows:
            flight = state.in_flight.get(message.seq)
            if flight is None:
                if message.seq <= state.handed:
                    continue  # acked while the read was under way
                flight = state.in_flight[message.seq] = _InFlight(0, now)
            flight.deliveries += 1
            flight.due = now + redelivery_delay(self._ack_wait, flight.deliveries)
            state.handed = max(state.handed, message.seq)
            out.append(replace(message, deliveries=flight.deliveries))
        return out

    async def ack(self, consumer: str, seqs: Sequence[int]) -> None:
        self._check_open()
        state = self._consumer(consumer)
        for seq in seqs:
            if state.in_flight.pop(seq, None) is not None:
                state.acked.add(seq)
        moved = False
        while state.cursor + 1 in state.acked:
            state.cursor += 1
            state.acked.discard(state.cursor)
            moved = True
        if moved:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._submit(_Cursor(consumer, state.cursor, future))
            await future

    async def pending(self, consumer: str) -> int:
        self._check_open()
        state = self._consumer(consumer)
        return self._last_seq(state.type) - state.cursor - len(state.acked)

    async def handed_out(self, consumer: str) -> tuple[int, int]:
        self._check_open()
        state = self._consumer(consumer)
        return state.handed, state.cursor

    # --- reading ----------------------------------------------------------------------------------

    async def read(self, type: str, start: int | datetime, limit: int) -> list[Message]:
        self._check_open()
        self._stream(type)
        if limit < 1:
            return []
        assert self._reader is not None
        if isinstance(start, datetime):
            return await self._in(self._reader, lambda: self._log.read_at(type, start, limit))
        return await self._in(self._reader, lambda: self._log.read_from(type, max(start, 1), limit))

    async def info(self, type: str) -> StreamInfo:
        self._check_open()
        self._stream(type)
        assert self._reader is not None
        first, last = await self._in(self._reader, lambda: self._log.bounds(type))
        return StreamInfo(type, first, last, last - first + 1 if last else 0)

    # --- helpers ----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state != "open":
            raise BusUnavailable(f"the event log {self.path} is not open", retry_after=RETRY_AFTER)

    def _stream(self, type_: str) -> StreamRow:
        stream = self._streams.get(type_)
        if stream is None:
            raise UnknownEventType(f"no stream for event type {type_!r}")
        return stream

    def _last_seq(self, type_: str) -> int:
        return self._stream(type_).last_seq

    def _consumer(self, name: str) -> _Consumer:
        state = self._consumers.get(name)
        if state is None:
            raise UnknownConsumer(f"no consumer named {name!r}")
        return state

    @staticmethod
    async def _in(executor: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, fn)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
