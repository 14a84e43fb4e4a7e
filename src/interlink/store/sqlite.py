"""The embedded database: one SQLite file (or ``:memory:``), stdlib ``sqlite3``.

A single connection serves every thread, serialized by a lock: SQLite allows one writer at a
time anyway, and the admin workload is small. WAL mode lets other processes (the CLI next to a
running server, the delivery queue's own connection) read while this one writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from interlink.errors import ConfigError, MigrationError, StoreError, StoreUnavailable
from interlink.store.base import Clock, utcnow
from interlink.store.database import Database, Session
from interlink.store.migrations import split_sqlite_script

_PREFIX: Final = "sqlite:///"
MEMORY: Final = ":memory:"
# Errors about the file or the disk, not the statement: worth retrying once fixed.
_UNAVAILABLE: Final = ("unable to open", "disk i/o", "readonly", "disk is full")


def sqlite_path(url: str) -> str:
    """The file path in ``sqlite:///PATH`` (relative to the working directory unless absolute)."""
    if not url.lower().startswith(_PREFIX) or len(url) == len(_PREFIX):
        raise ConfigError(
            f"invalid SQLite URL {url!r}: use sqlite:///relative/path.db, "
            "sqlite:////absolute/path.db or sqlite:///:memory:"
        )
    return url[len(_PREFIX) :]


def sqlite_ts(value: datetime) -> str:
    """Times are ISO 8601 UTC text with microseconds, so text order is time order."""
    if value.tzinfo is not UTC:  # most are UTC already: converting costs as much again
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def connect_sqlite(path: str, busy_timeout: float) -> sqlite3.Connection:
    """An autocommit connection in WAL mode; raises ``StoreUnavailable`` naming ``path``."""
    where = f"cannot open SQLite database at {path}"
    if path != MEMORY:
        parent = Path(path).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise StoreUnavailable(f"{where}: {parent} is not a directory") from None
        except OSError as exc:
            raise StoreUnavailable(f"{where}: {exc.strerror or exc}") from None
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable in WAL mode except for the last commits on power loss.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise StoreUnavailable(f"{where}: {exc}") from None
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One transaction on an autocommit connection. IMMEDIATE takes the write lock up front,
    so a read-then-write never fails half-way on a lock upgrade."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: str, *, clock: Clock = utcnow, busy_timeout: float = 5.0) -> None:
        super().__init__(url, clock)
        self.path = sqlite_path(url)
        self._lock = threading.RLock()
        self._closed = False
        self._conn = connect_sqlite(self.path, busy_timeout)

    def sql(self, query: str) -> str:
        return query

    def ts(self, value: datetime) -> str:
        return sqlite_ts(value)

    def dt(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._lock:
            if self._closed:
                raise StoreError(f"store {self.url} is closed")
            try:
                yield Session(self._conn, self)
            except sqlite3.Error as exc:
                raise translate_error(exc, self.path) from exc

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.session() as session, immediate(self._conn):
            yield session

    def prepare_migrations(self, session: Session) -> None:
        session.execute(
            "CREATE TABLE IF NOT EXISTS interlink_migrations ("
            "version TEXT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )

    def lock_migrations(self, session: Session) -> None:
        """BEGIN IMMEDIATE already holds the database's single write lock."""

    def run_script(self, driver: Any, path: str, script: str) -> None:
        try:
            for statement in split_sqlite_script(script):
                driver.execute(statement)
        except sqlite3.Error as exc:
            raise MigrationError(f"migration {path} failed: {exc}") from exc


def translate_error(
    exc: sqlite3.Error, path: str, missing_table: str = "is not migrated"
) -> StoreError:
    """``exc`` as a store error naming ``path``; ``missing_table`` says what a missing table
    means to the caller."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return StoreUnavailable(f"SQLite database {path} is busy: {text}", retry_after=1.0)
    if any(marker in lowered for marker in _UNAVAILABLE):
        return StoreUnavailable(f"SQLite database {path} is unusable: {text}")
    if "no such table" in lowered:
        return StoreError(f"SQLite database {path} {missing_table}: {text}")
    return StoreError(f"SQLite database {path} failed: {text}")
