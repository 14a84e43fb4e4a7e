"""``sqlite``: a SQLite database file, through the standard library's driver run in a thread.

One connection per System, its calls serialised (SQLite writes one at a time anyway) and run in
a worker thread so that the event loop never waits on the disk. Table names are quoted, so they
match exactly as written.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from interlink.connectors import schemas
from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    Connector,
    ConnectorError,
    ConstraintViolation,
    Fetched,
    ObjectNotFound,
    Row,
    StatementError,
    Unsupported,
    WriteMode,
)
from interlink.connectors.spec import ConnectorSpec
from interlink.connectors.sqlcaps import SQL_CAPABILITIES
from interlink.connectors.sqltext import (
    Dialect,
    batches,
    bind,
    json_rows,
    plan_write,
    summary,
)

T = TypeVar("T")
DIALECT = Dialect("sqlite", '"', "?", "on-conflict")

SPEC = ConnectorSpec(
    name="sqlite",
    title="SQLite",
    description="A SQLite database file on the node, for local data and tests.",
    interface="sql",
    config=schemas.connection(
        {
            "path": {
                "type": "string",
                "minLength": 1,
                "description": "the database file: absolute, or relative to the working "
                "directory; created when missing unless readOnly",
            },
            "readOnly": {
                "type": "boolean",
                "default": False,
                "description": "open the file read-only: writes fail",
            },
            "busyTimeout": {
                "type": "number",
                "minimum": 0,
                "maximum": 600,
                "default": 5,
                "description": "seconds to wait for another writer's lock before failing "
                "(retryable)",
            },
        },
        required=["path"],
    ),
    capabilities=SQL_CAPABILITIES,
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: cache, owner: platform}
spec:
  domain: platform
  connector: sqlite
  connection:
    path: /var/lib/interlink/cache.db
""",
)


def _error(exc: sqlite3.Error, system: str, obj: str) -> ConnectorError:
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return ConstraintViolation(text, system=system, object=obj)
    if isinstance(exc, sqlite3.OperationalError):
        if text.startswith("no such table"):
            return ObjectNotFound(text, system=system, object=obj)
        if "locked" in text or "busy" in text:
            return ConnectorError(text, system=system, object=obj, retryable=True)
        if "readonly" in text:
            return Unsupported(text, system=system, object=obj)
        if "unable to open" in text or "disk" in text:
            return ConnectionFailed(text, system=system, object=obj)
    return StatementError(text, system=system, object=obj)


class SqliteConnection(Connection):
    def __init__(self, db: sqlite3.Connection, system: str) -> None:
        self._db = db
        self.system = system
        self._lock = threading.Lock()

    async def _run(self, fn: Callable[[], T]) -> T:
        # The thread lock, not an asyncio one: a cancelled step leaves its thread running, and
        # the next operation must wait for it.
        def locked() -> T:
            with self._lock:
                return fn()

        return await asyncio.to_thread(locked)

    async def query(
        self, sql: str, params: Mapping[str, Any], *, max_rows: int | None = None
    ) -> list[Row]:
        text, values = bind(sql, params, "?", self.system)
        obj = summary(sql)

        def run() -> list[Row]:
            try:
                cursor = self._db.execute(text, values)
                try:
                    if cursor.description is None:
                        self._db.commit()
                        return []
                    names = [d[0] for d in cursor.description]
                    got = cursor.fetchall() if max_rows is None else cursor.fetchmany(max_rows + 1)
                finally:
                    cursor.close()
                if self._db.in_transaction:
                    self._db.commit()  # a statement with RETURNING wrote: keep it
            except sqlite3.Error as exc:
                self._db.rollback()
                raise _error(exc, self.system, obj) from None
            return json_rows(names, got)

        rows = await self._run(run)
        _limit(rows, max_rows, self.system, obj)
        return rows

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> Fetched:
        text, values = bind(sql, params, "?", self.system)
        obj = summary(sql)

        def run() -> Fetched:
            try:
                cursor = self._db.execute(text, values)
                try:
                    names = [d[0] for d in cursor.description or ()]
                    return Fetched(names, cursor.fetchall())
                finally:
                    cursor.close()
                    if self._db.in_transaction:
                        self._db.rollback()  # a read: nothing of it is kept
            except sqlite3.Error as exc:
                self._db.rollback()
                raise _error(exc, self.system, obj) from None

        return await self._run(run)

    async def write(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        mode: WriteMode = "insert",
        key: Sequence[str] = (),
        batch_size: int = 500,
    ) -> int:
        plan = plan_write(DIALECT, table, rows, mode, key, self.system)
        count = 0
        for batch in batches(plan.values, batch_size):

            def run(batch: list[Sequence[Any]] = batch) -> int:
                try:
                    with self._db:  # one transaction: committed, or rolled back on error
                        return self._db.executemany(plan.statement, batch).rowcount
                except sqlite3.Error as exc:
                    raise _error(exc, self.system, table) from None

            count += await self._run(run)
        return count

    async def close(self) -> None:
        await self._run(self._db.close)


def _limit(rows: list[Row], max_rows: int | None, system: str, obj: str) -> None:
    if max_rows is not None and len(rows) > max_rows:
        raise StatementError(
            f"the query returned more than maxRows ({max_rows}) rows", system=system, object=obj
        )


class SqliteConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        path = Path(str(config["path"]))
        read_only = bool(config.get("readOnly", False))
        timeout = float(config.get("busyTimeout", 5))

        def connect() -> sqlite3.Connection:
            uri = f"{path.resolve().as_uri()}?mode={'ro' if read_only else 'rwc'}"
            return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)

        try:
            db = await asyncio.to_thread(connect)
        except sqlite3.Error as exc:
            raise ConnectionFailed(f"cannot open {path}: {exc}", system=system) from None
        return SqliteConnection(db, system)
