"""Sources the trigger tests feed flows from: a table in a list, a queue in an asyncio.Queue.

``Table`` is polled as a connector polls a database table: rows ordered by a timestamp with
the primary key as tie-breaker, the cursor the last (timestamp, key) recorded, rows after it
strictly, so several rows sharing a timestamp across a batch boundary are neither skipped nor
read twice. A row's key is its primary key and version, so an updated row is a new item.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from interlink.errors import ConfigError
from interlink.estate.kinds.flow import FlowSpec
from interlink.flows.calls import Target
from interlink.flows.triggers import Batch, Delivery, Item

#: The flow the tests' triggers feed: it stamps its message.
STAMP = FlowSpec.model_validate(
    {"steps": [{"name": "stamp", "type": "map", "expression": '$merge([$, {"ran": true}])'}]}
)


def flows(name: str) -> FlowSpec:
    if name != "ingest":
        raise ConfigError(f"no Flow {name!r}")
    return STAMP


def no_targets(system: str) -> Target:
    raise ConfigError(f"no System {system!r}")


@dataclass
class Row:
    id: int
    at: str  # ISO 8601, the "updated_at" column
    data: dict[str, Any]
    version: int = 1


@dataclass(eq=False)
class Table:
    rows: list[Row] = field(default_factory=list)
    fail: int = 0  # polls that raise before one answers, as a database that is away
    cursors: list[Any] = field(default_factory=list)  # the cursor of each poll answered
    closed: bool = False

    def add(self, count: int, start: int = 0, *, same_at: int = 3) -> None:
        """``count`` rows from id ``start``, ``same_at`` of them sharing each timestamp."""
        for n in range(start, start + count):
            self.rows.append(Row(n, f"2026-01-01T00:00:{n // same_at:02d}Z", {"n": n}))

    async def poll(self, cursor: Any, limit: int) -> Batch:
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("connection refused")
        self.cursors.append(cursor)
        after = (cursor["at"], cursor["id"]) if cursor is not None else ("", -1)
        found = sorted((r for r in self.rows if (r.at, r.id) > after), key=lambda r: (r.at, r.id))
        page = found[:limit]
        if not page:
            return Batch([], cursor, False)
        last = page[-1]
        items = [Item(f"{r.id}@{r.version}", {**r.data, "id": r.id}) for r in page]
        return Batch(items, {"at": last.at, "id": last.id}, len(found) > limit)

    async def aclose(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class Settings:
    """A source that compares by its settings, as a connector's does."""

    table: str
    rows: tuple[int, ...] = ()

    async def poll(self, cursor: Any, limit: int) -> Batch:
        start = 0 if cursor is None else int(cursor)
        page = self.rows[start : start + limit]
        items = [Item(f"{self.table}:{n}", {"n": n}) for n in page]
        return Batch(items, start + len(page), start + len(page) < len(self.rows))


class Queue:
    """A broker's queue: a nacked message is handed out again, an acked one is gone."""

    def __init__(self, acked: Any = None, *, placed: bool = False) -> None:
        self.messages: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.log: list[tuple[str, str]] = []  # (what, key)
        self._on_ack = acked  # called with the key at each ack, before it counts
        # An ack placed at its call (as AMQP's and MQTT's): it counts before ``acked`` runs.
        self._placed = placed
        self.fail = 0  # receives that raise before one answers, as a broker that is away

    def put(self, key: str, data: Any) -> None:
        self.messages.put_nowait((key, data))

    async def receive(self) -> Delivery:
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("broker unreachable")
        key, data = await self.messages.get()
        self.log.append(("received", key))

        async def ack() -> None:
            if self._placed:
                self.log.append(("acked", key))
            if self._on_ack is not None:
                await self._on_ack(key)
            if not self._placed:
                self.log.append(("acked", key))

        async def nack() -> None:
            self.log.append(("nacked", key))
            self.messages.put_nowait((key, data))

        return Delivery(key, data, ack, nack, self._placed)
