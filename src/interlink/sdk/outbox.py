"""The transactional outbox: an event is written in the same transaction as the change it reports.

A service that updates its database and then publishes can lose the event (a crash between the
two) or publish a change that was rolled back. With the outbox, the service inserts the event
into a table of its own database inside the business transaction; :class:`OutboxRelay` later
publishes what was committed and marks it sent. Publishing is at least once: a relay that stops
after publishing but before marking publishes again, and the platform accepts the repeated
``source`` + ``id`` once.

Works on the service's own ``sqlite3`` or ``psycopg`` (3) connection::

    with conn:  # the business transaction
        conn.execute("UPDATE customers SET street = ? WHERE id = ?", (street, customer_id))
        outbox.add(conn, "customer.address-updated", {"customerId": customer_id, ...})

    relay = OutboxRelay(lambda: sqlite3.connect("crm.db"), publisher)
    await relay.run(stop)  # or `await relay.run_once()` from a scheduler
"""

# The table name is the only text put into SQL, and it is checked against _TABLE_NAME first.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

from interlink.errors import PublishError
from interlink.sdk.client import AsyncPublisher

logger = logging.getLogger("interlink.outbox")
T = TypeVar("T")

DEFAULT_TABLE: Final = "interlink_outbox"
_TABLE_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Connection(Protocol):
    """What both sqlite3 and psycopg connections offer."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    def commit(self) -> None: ...


def _dialect(conn: object) -> str:
    if isinstance(conn, sqlite3.Connection):
        return "sqlite"
    if type(conn).__module__.startswith("psycopg"):
        return "postgres"
    raise TypeError(f"unsupported connection {type(conn).__name__}: use sqlite3 or psycopg 3")


@dataclass(frozen=True)
class Outbox:
    """The outbox table of one service database, and the source its events carry."""

    source: str
    table: str = DEFAULT_TABLE

    def __post_init__(self) -> None:
        if not _TABLE_NAME.match(self.table):
            raise ValueError(f"invalid outbox table name {self.table!r}")

    def install(self, conn: Connection) -> None:
        """Create the table if it does not exist (run once, e.g. with the service's migrations)."""
        if _dialect(conn) == "sqlite":
            key = "id INTEGER PRIMARY KEY AUTOINCREMENT"
            time = "TEXT"
        else:
            key = "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
            time = "TIMESTAMPTZ"
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            f"{key}, event TEXT NOT NULL, created_at {time} NOT NULL, "
            f"sent_at {time}, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT)"
        )
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {self.table}_unsent_idx ON {self.table} (id) "
            "WHERE sent_at IS NULL"
        )

    def add(
        self,
        conn: Connection,
        type: str,
        data: Any,
        *,
        id: str | None = None,
        subject: str | None = None,
        dataschema: str | None = None,
        extensions: Mapping[str, str | int | bool] | None = None,
    ) -> str:
        """Insert an event in the caller's open transaction; returns its CloudEvents id.

        Nothing is committed here: the event becomes visible to the relay exactly when the
        caller's transaction commits, and disappears with it on rollback.
        """
        now = datetime.now(UTC)
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": id or str(uuid.uuid4()),
            "source": self.source,
            "type": type,
            "time": now.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": data,
        }
        if subject is not None:
            event["subject"] = subject
        if dataschema is not None:
            event["dataschema"] = dataschema
        event.update(extensions or {})
        body = json.dumps(event, separators=(",", ":"))
        mark = "?" if _dialect(conn) == "sqlite" else "%s"
        created = now.isoformat() if mark == "?" else now
        conn.execute(
            f"INSERT INTO {self.table} (event, created_at) VALUES ({mark}, {mark})",
            (body, created),
        )
        return str(event["id"])


class OutboxRelay:
    """Publishes committed outbox rows in insertion order and marks them sent.

    ``connect`` opens a connection to the service database (the relay keeps it). On Postgres,
    rows are claimed with ``FOR UPDATE SKIP LOCKED``, so several relays can run side by side.
    An event the platform rejects for good (invalid data, no permission) is marked with its
    error and skipped, so one bad row cannot block the rest; ``failed()`` lists them.
    """

    def __init__(
        self,
        connect: Callable[[], Connection],
        publisher: AsyncPublisher,
        *,
        outbox: Outbox | None = None,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        keep_sent: bool = False,
    ) -> None:
        self._connect = connect
        self._conn: Connection | None = None
        self._publisher = publisher
        self._table = (outbox or Outbox(source=publisher.source)).table
        self._batch = batch_size
        self._poll = poll_interval
        self._keep_sent = keep_sent
        self.published = 0
        # Every database call runs on this one thread: sqlite3 connections (and psycopg ones,
        # outside a pipeline) belong to the thread that uses them.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interlink-outbox")

    async def _in_db(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn)

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    async def run_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were marked sent."""
        conn = await self._in_db(self._connection)
        dialect = _dialect(conn)
        lock = " FOR UPDATE SKIP LOCKED" if dialect == "postgres" else ""
        # Rows that failed for good carry last_error and attempts > 0 with sent_at NULL; they
        # are left for an operator, so select only those never rejected.
        query = (
            f"SELECT id, event FROM {self._table} WHERE sent_at IS NULL AND last_error IS NULL "
            f"ORDER BY id LIMIT {int(self._batch)}{lock}"
        )
        rows = await self._in_db(lambda: _fetch(conn, query))
        if not rows:
            await self._in_db(lambda: _end(conn))
            return 0
        events = [json.loads(event) for _, event in rows]
        results = await asyncio.gather(
            *(self._publisher.send(event) for event in events), return_exceptions=True
        )
        sent: list[int] = []
        failed: list[tuple[str, int]] = []
        for (row_id, _), result in zip(rows, results, strict=True):
            if isinstance(result, PublishError) and result.status and result.status < 500:
                failed.append((str(result)[:500], row_id))
            elif isinstance(result, BaseException):
                # Not accepted yet (platform down past the client's deadline): retry later.
                logger.warning("outbox row %s not published yet: %s", row_id, result)
            else:
                sent.append(row_id)
        await self._in_db(lambda: self._mark(conn, dialect, sent, failed))
        self.published += len(sent)
        return len(sent)

    def _mark(
        self, conn: Connection, dialect: str, sent: list[int], failed: list[tuple[str, int]]
    ) -> None:
        mark = "?" if dialect == "sqlite" else "%s"
        now: Any = datetime.now(UTC)
        if dialect == "sqlite":
            now = now.isoformat()
        for row_id in sent:
            if self._keep_sent:
                conn.execute(
                    f"UPDATE {self._table} SET sent_at = {mark}, attempts = attempts + 1 "
                    f"WHERE id = {mark}",
                    (now, row_id),
                )
            else:
                conn.execute(f"DELETE FROM {self._table} WHERE id = {mark}", (row_id,))
        for error, row_id in failed:
            logger.error("outbox row %s rejected by the platform: %s", row_id, error)
            conn.execute(
                f"UPDATE {self._table} SET last_error = {mark}, attempts = attempts + 1 "
                f"WHERE id = {mark}",
                (error, row_id),
            )
        conn.commit()

    async def failed(self) -> list[tuple[int, str]]:
        """Rows the platform rejected for good, with the reason, oldest first."""

        def read() -> list[tuple[Any, ...]]:
            conn = self._connection()
            rows = _fetch(
                conn,
                f"SELECT id, last_error FROM {self._table} WHERE last_error IS NOT NULL "
                "AND sent_at IS NULL ORDER BY id",
            )
            _end(conn)
            return rows

        return [(int(r[0]), str(r[1])) for r in await self._in_db(read)]

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set, polling when the outbox is empty."""
        while not stop.is_set():
            try:
                count = await self.run_once()
            except Exception:
                logger.exception("outbox relay pass failed; retrying")
                count = 0
            if count == 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll)

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                closer = getattr(self._conn, "close", None)
                if closer is not None:
                    closer()
                self._conn = None

        await self._in_db(close)
        self._db.shutdown(wait=False)


def _fetch(conn: Connection, query: str) -> list[tuple[Any, ...]]:
    cursor = conn.execute(query)
    if isinstance(cursor, sqlite3.Cursor):
        with closing(cursor):
            return cursor.fetchall()
    rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def _end(conn: Connection) -> None:
    # Ends the read transaction psycopg opened implicitly (and releases SKIP LOCKED claims).
    conn.commit()


__all__ = ["Outbox", "OutboxRelay"]
