"""Observed connector calls: what each flow reads from and writes to each System, per hour.

Every operation a flow makes through a connector passes :class:`Observed`, the connection
:meth:`Connections.get <interlink.connectors.connections.Connections.get>` hands a caller: a
query step, a write step, a poll trigger's SQL read, a send, a file operation, a message
received. It counts the operation in :class:`CallCounts`, in memory, by UTC hour, caller (the
flow), System, direction (``read`` or ``write``) and operation, with the volume it moved (rows,
messages or bytes, as :data:`OPERATIONS` says) and how many calls failed. Poll triggers over
HTTP count there too (operation ``poll``).

:class:`CallFlusher` writes the counts to the store every :data:`FLUSH_INTERVAL` seconds and
when it stops, adding them to what is stored for the same key, as the gateway's observed
connections are: nothing touches the store on an operation's own path. The table holds at most
:data:`MAX_KEYS` keys between two flushes (the keys are bounded by the estate's flows, Systems
and operations, so it fills only under a misuse); calls of a key beyond it go uncounted, with
a warning at the next flush saying how many.

A write, send or file written inside a flow run is also noted for lineage
(:func:`~interlink.observe.lineage.note_written`): the run's OpenLineage outputs, and a hop of
its data subject when it carries one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeVar

from interlink.connectors.base import (
    Connection,
    Fetched,
    FileInfo,
    Inbox,
    OutgoingMessage,
    Received,
    Row,
    StreamRead,
    WriteMode,
)
from interlink.observe import tracing
from interlink.observe.lineage import note_written
from interlink.observe.saving import CountsFlusher, CountsSaver
from interlink.store import ObservedCall, Store

log = logging.getLogger("interlink.connectors")

T = TypeVar("T")

#: Seconds between two flushes of the counts to the store.
FLUSH_INTERVAL: Final = 30.0
#: Most keys held between two flushes.
MAX_KEYS: Final = 10_000

Direction = Literal["read", "write"]
#: Each operation's direction and what its volume counts.
OPERATIONS: Final[dict[str, tuple[Direction, str]]] = {
    "query": ("read", "rows"),
    "poll": ("read", "rows"),
    "write": ("write", "rows"),
    "send": ("write", "messages"),
    "receive": ("read", "messages"),
    "read_stream": ("read", "records"),
    "list_files": ("read", "files"),
    "read_file": ("read", "bytes"),
    "write_file": ("write", "bytes"),
    "move_file": ("write", "files"),
    "delete_file": ("write", "files"),
}

CallKey = tuple[int, str, str, str, str]  # (hour as epoch seconds, caller, system, dir, op)


class CallCounts:
    """Calls, volume and errors per hour per (caller, System, direction, operation), held
    until taken. Plain dict updates on the event loop: no lock, no await."""

    def __init__(self, limit: int = MAX_KEYS, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.clock = clock
        self.counts: dict[CallKey, list[int]] = {}  # [calls, volume, errors]
        self.dropped = 0

    def add(
        self,
        caller: str,
        system: str,
        operation: str,
        volume: int = 0,
        *,
        failed: bool = False,
        calls: int = 1,
        at: float | None = None,
    ) -> None:
        direction = OPERATIONS[operation][0]
        hour = int(self.clock() if at is None else at) // 3600 * 3600
        key = (hour, caller, system, direction, operation)
        found = self.counts.get(key)
        if found is None:
            if len(self.counts) >= self.limit:
                self.dropped += calls
                return
            found = self.counts[key] = [0, 0, 0]
        found[0] += calls
        found[1] += volume
        found[2] += calls if failed else 0

    def take(self) -> dict[CallKey, list[int]]:
        """The counts so far, leaving the table empty."""
        counts, self.counts = self.counts, {}
        return counts

    def restore(self, counts: dict[CallKey, list[int]]) -> None:
        """Put back counts a failed flush could not write (as far as there is room)."""
        for (hour, caller, system, _, operation), (calls, volume, errors) in counts.items():
            if errors:
                self.add(caller, system, operation, 0, failed=True, calls=errors, at=hour)
            if calls - errors or volume:
                self.add(caller, system, operation, volume, calls=calls - errors, at=hour)


def call_rows(counts: dict[CallKey, list[int]]) -> list[ObservedCall]:
    return [
        ObservedCall(
            datetime.fromtimestamp(hour, UTC),
            caller,
            system,
            direction,
            operation,
            calls,
            volume,
            errors,
        )
        for (hour, caller, system, direction, operation), (calls, volume, errors) in counts.items()
    ]


class CallFlusher(CountsFlusher[CallKey, list[int]]):
    """Writes a :class:`CallCounts` to the store periodically and when stopped."""

    def __init__(self, counts: CallCounts, store: Store, interval: float = FLUSH_INTERVAL) -> None:
        saver = CountsSaver(
            counts,
            log,
            saved="observed connector calls",
            kept="later",
            uncounted="connector call(s)",
            unit="keys",
        )
        write = store.connector_calls.record
        super().__init__(counts, lambda taken: write(call_rows(taken)), saver, interval)


def _one(_: object) -> int:
    """The volume of an operation that counts as one (a message sent, a file moved)."""
    return 1


class Observed(Connection):
    """A System's shared connection as one caller uses it: each operation counted."""

    def __init__(
        self, inner: Connection, caller: str, counts: CallCounts, reads: str = "query"
    ) -> None:
        self.inner = inner
        self.system = inner.system
        self.caller = caller
        self.counts = counts
        self.reads = reads  # what a query counts as: query (a step), poll (a trigger)

    def polling(self) -> Observed:
        """The same connection, its queries counted as a poll trigger's reads."""
        return Observed(self.inner, self.caller, self.counts, "poll")

    def _failed(self, operation: str) -> None:
        self.counts.add(self.caller, self.system, operation, failed=True)

    async def _counted(self, operation: str, call: Awaitable[T], volume: Callable[[T], int]) -> T:
        """What ``call`` returns, counted as one ``operation`` of ``volume`` of it; a call that
        fails is counted as failed. With tracing on, it is a span too."""
        traced = tracing.current()
        if traced is not None:
            return await self._traced(traced, operation, call, volume)
        try:
            result = await call
        except Exception:
            self._failed(operation)
            raise
        self.counts.add(self.caller, self.system, operation, volume(result))
        return result

    async def _traced(
        self,
        traced: tracing.Tracing,
        operation: str,
        call: Awaitable[T],
        volume: Callable[[T], int],
    ) -> T:
        attributes = {
            "interlink.system": self.system,
            "interlink.caller": self.caller,
            "interlink.operation": operation,
        }
        with traced.span(f"{operation} {self.system}", "client", attributes=attributes) as span:
            try:
                result = await call
            except Exception:
                self._failed(operation)
                raise
            moved = volume(result)
            span.set("interlink.volume", moved)
        self.counts.add(self.caller, self.system, operation, moved)
        return result

    async def query(
        self, sql: str, params: Mapping[str, Any], *, max_rows: int | None = None
    ) -> list[Row]:
        return await self._counted(
            self.reads, self.inner.query(sql, params, max_rows=max_rows), len
        )

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> Fetched:
        return await self._counted(self.reads, self.inner.fetch(sql, params), lambda f: len(f.rows))

    async def write(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        mode: WriteMode = "insert",
        key: Sequence[str] = (),
        batch_size: int = 500,
    ) -> int:
        written = self.inner.write(table, rows, mode=mode, key=key, batch_size=batch_size)
        count = await self._counted("write", written, lambda _: len(rows))
        note_written(self.system, "write", table)
        return count

    async def send(self, message: OutgoingMessage) -> None:
        await self._counted("send", self.inner.send(message), _one)
        note_written(self.system, "send", message.to)

    async def subscribe(self, source: str, options: Mapping[str, Any]) -> Inbox:
        return _ObservedInbox(await self.inner.subscribe(source, options), self)

    async def read_stream(self, stream: str, state: Any, limit: int) -> StreamRead:
        read = self.inner.read_stream(stream, state, limit)
        return await self._counted("read_stream", read, lambda r: len(r.records))

    async def list_files(self, prefix: str = "") -> list[FileInfo]:
        return await self._counted("list_files", self.inner.list_files(prefix), len)

    async def read_file(self, path: str) -> bytes:
        return await self._counted("read_file", self.inner.read_file(path), len)

    async def write_file(self, path: str, data: bytes) -> None:
        await self._counted("write_file", self.inner.write_file(path, data), lambda _: len(data))
        note_written(self.system, "write_file", path)

    async def move_file(self, path: str, to: str) -> None:
        await self._counted("move_file", self.inner.move_file(path, to), _one)

    async def delete_file(self, path: str) -> None:
        await self._counted("delete_file", self.inner.delete_file(path), _one)

    async def close(self) -> None:
        """The shared connection stays open: :class:`Connections` closes it."""


class _ObservedInbox(Inbox):
    def __init__(self, inner: Inbox, connection: Observed) -> None:
        self.inner = inner
        self.connection = connection

    async def receive(self) -> Received:
        c = self.connection
        try:
            received = await self.inner.receive()
        except Exception:
            c._failed("receive")
            raise
        c.counts.add(c.caller, c.system, "receive", 1)
        return received

    async def close(self) -> None:
        await self.inner.close()
