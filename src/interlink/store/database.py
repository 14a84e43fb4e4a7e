"""One database behind the store: connections, placeholders, times, transactions, migrations.

Repositories (``revisions.py``, ``admin_tokens.py``, ...) are written once against this class:
their SQL uses ``?`` placeholders and portable syntax, times go in through :meth:`Database.ts`
and come out through :meth:`Database.dt`, JSON columns come out through
:meth:`Database.json`. The two implementations (``sqlite.py``, ``postgres.py``) own what
differs: how to connect, the placeholder style, how times are stored, how a transaction takes
its lock and how errors read.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from interlink.errors import StoreError, StoreUnavailable
from interlink.store.base import Clock, redact_url, utcnow
from interlink.store.migrations import Dialect, Migration, load_migrations

logger = logging.getLogger("interlink.store")

Row = tuple[Any, ...]
Params = Sequence[Any]

#: Rows one statement of :meth:`Session.insert_rows` holds: at most a few thousand parameters,
#: within both databases' limits.
INSERT_CHUNK = 250


class _Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


class _Driver(Protocol):
    """What ``sqlite3.Connection`` and ``psycopg.Connection`` have in common and a session uses."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    def cursor(self) -> Any: ...


class Session:
    """A connection lent by :meth:`Database.session` or :meth:`Database.transaction`:
    statements in ``?`` style, rows as tuples."""

    def __init__(self, driver: _Driver, database: Database) -> None:
        self._driver = driver
        self._database = database

    def execute(self, query: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed."""
        cursor: _Cursor = self._driver.execute(self._database.sql(query), params)
        return cursor.rowcount

    def executemany(self, query: str, rows: Sequence[Params]) -> None:
        self._driver.cursor().executemany(self._database.sql(query), rows)

    def insert_rows(self, insert: str, rows: Sequence[Params]) -> None:
        """``insert`` (``INSERT INTO t (a, b)``) of ``rows``, :data:`INSERT_CHUNK` rows a
        statement. SQLite's driver lets the GIL go while it steps each statement, so a writer
        thread beside a busy event loop must take it back after every one: once a chunk here,
        where ``executemany`` takes it back once a row."""
        if not rows:
            return
        marks = f"({', '.join('?' * len(rows[0]))})"
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            query = f"{insert} VALUES {', '.join([marks] * len(chunk))}"
            self._driver.execute(self._database.sql(query), [v for row in chunk for v in row])

    def execute_each(self, query: str, rows: Sequence[Params]) -> list[Row | None]:
        """Run a statement once per parameter row; the first row each run returns (a
        ``RETURNING`` clause says which rows it changed). PostgreSQL sends them all in one
        pipeline, one round trip for the lot; SQLite, in process, runs them one by one."""
        if not rows:
            return []
        return self._database.execute_each(self._driver, self._database.sql(query), rows)

    def fetchone(self, query: str, params: Params = ()) -> Row | None:
        row: Row | None = self._driver.execute(self._database.sql(query), params).fetchone()
        return row

    def fetchall(self, query: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = self._driver.execute(self._database.sql(query), params).fetchall()
        return rows

    def script(self, migration: Migration) -> None:
        """Run a migration's SQL files (several statements each) inside this transaction."""
        for part in migration.parts:
            self._database.run_script(self._driver, part.path, part.sql)


class Listener(Protocol):
    """Notifications on one channel, over a connection of their own."""

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True when a notification arrived. Raises
        ``StoreUnavailable`` when the connection is lost."""
        ...

    def close(self) -> None: ...


class Database(ABC):
    """A store database; synchronous and safe to call from several threads."""

    dialect: Dialect

    def __init__(self, url: str, clock: Clock = utcnow) -> None:
        self._url = url
        self._clock = clock

    @property
    def url(self) -> str:
        """The URL, password redacted, fit for logs and messages."""
        return redact_url(self._url)

    def now(self) -> datetime:
        return self._clock().astimezone(UTC)

    # --- what differs by dialect ---------------------------------------------------------------

    @abstractmethod
    def sql(self, query: str) -> str:
        """``query`` (``?`` placeholders) in the driver's placeholder style."""

    @abstractmethod
    def ts(self, value: datetime) -> Any:
        """A time as the driver stores it."""

    @abstractmethod
    def dt(self, value: Any) -> datetime:
        """A stored time as a UTC-aware datetime."""

    @abstractmethod
    def session(self) -> AbstractContextManager[Session]:
        """A connection in autocommit mode: each statement is its own transaction."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Session]:
        """A connection in one transaction that holds the write lock where the dialect has one;
        committed when the block ends, rolled back when it raises."""

    @abstractmethod
    def run_script(self, driver: Any, path: str, script: str) -> None:
        """Run the statements of one migration file; raises ``MigrationError`` naming ``path``."""

    @abstractmethod
    def prepare_migrations(self, session: Session) -> None:
        """Create what the migration table needs (a schema) and the table itself."""

    @abstractmethod
    def lock_migrations(self, session: Session) -> None:
        """Serialize migrators across processes until the transaction ends."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; safe to call twice."""

    def execute_each(self, driver: Any, query: str, rows: Sequence[Params]) -> list[Row | None]:
        """:meth:`Session.execute_each` on ``driver``: one statement at a time here."""
        return [driver.execute(query, params).fetchone() for params in rows]

    def notify(self, session: Session, channel: str, payload: str) -> None:
        """Tell listeners on ``channel`` when ``session``'s transaction commits; a no-op where
        the dialect has no notifications (SQLite: readers poll)."""
        del session, channel, payload

    def listener(self, channel: str) -> Listener | None:
        """A connection listening on ``channel``, or None where the dialect has none."""
        return None

    # --- written once ------------------------------------------------------------------------

    def dt_or_none(self, value: Any) -> datetime | None:
        return None if value is None else self.dt(value)

    def json(self, value: Any) -> dict[str, Any]:
        """A JSON column's object: SQLite gives the text, PostgreSQL the decoded value."""
        decoded = json.loads(value) if isinstance(value, str | bytes) else value
        return dict(decoded)

    def ping(self) -> None:
        """Return if the database answers, else raise ``StoreUnavailable``."""
        try:
            with self.session() as session:
                session.fetchone("SELECT 1")
        except StoreError as exc:
            raise StoreUnavailable(exc.message, retry_after=exc.retry_after) from exc

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the versions this call applied (empty if none)."""
        with self.transaction() as session:
            self.prepare_migrations(session)
        applied: list[str] = []
        for migration in load_migrations(self.dialect):
            with self.transaction() as session:
                # Checked under the lock, so two processes migrating at once apply each
                # version exactly once.
                self.lock_migrations(session)
                if self._applied(session, migration.version):
                    continue
                session.script(migration)
                session.execute(
                    "INSERT INTO interlink_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, self.ts(self.now())),
                )
            logger.info("applied migration %s to %s", migration.filename, self.url)
            applied.append(migration.version)
        return applied

    def _applied(self, session: Session, version: str) -> bool:
        found = session.fetchone("SELECT 1 FROM interlink_migrations WHERE version = ?", (version,))
        return found is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
