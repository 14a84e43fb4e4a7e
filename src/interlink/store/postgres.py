"""The shared store: PostgreSQL through psycopg 3 and a small connection pool.

``postgresql://user@host:port/db?schema=NAME`` keeps every table in schema ``NAME`` (created
by the first migration), so several estates or test runs can share one database.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from interlink.errors import ConfigError, MigrationError, StoreError, StoreUnavailable
from interlink.store.base import Clock, redact_url, utcnow
from interlink.store.database import Database, Params, Row, Session

Connection = psycopg.Connection[TupleRow]

logger = logging.getLogger("interlink.store")
# psycopg's pool logs a warning, with libpq's hint lines, for every failed connection attempt;
# the store says once that PostgreSQL is unreachable and once that it is back.
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

DEFAULT_CONNECT_TIMEOUT: Final = 5
# Seconds a pool keeps trying to connect before it gives up until a caller needs a connection
# again. psycopg's default (minutes, backing off exponentially) would leave a pool asleep for
# about as long again as PostgreSQL was away.
RECONNECT_TIMEOUT: Final = 2.0
# Seconds a caller waits for a connection while PostgreSQL is known to be unreachable, and a
# readiness check always: long enough for a fresh connection, short enough to answer at once.
UNREACHABLE_WAIT: Final = 1.0
RETRY_AFTER: Final = 1.0
_SCHEMA_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass(frozen=True)
class PostgresTarget:
    """A store URL taken apart: what psycopg gets, the schema, and where it points."""

    conninfo: str
    schema: str | None
    where: str
    password: str | None

    def __repr__(self) -> str:
        return f"PostgresTarget(where={self.where!r}, schema={self.schema!r})"


def parse_postgres_url(url: str) -> PostgresTarget:
    """Strip ``schema=`` (libpq rejects unknown parameters) and default ``connect_timeout``."""
    parts = urlsplit(url)
    schema: str | None = None
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    if schema is not None and not _SCHEMA_RE.fullmatch(schema):
        raise ConfigError(
            f"invalid schema {schema!r} in {redact_url(url)}: use letters, digits and _"
        )
    if not any(key == "connect_timeout" for key, _ in kept):
        kept.append(("connect_timeout", str(DEFAULT_CONNECT_TIMEOUT)))
    conninfo = f"{url.partition('?')[0]}?{urlencode(kept)}"
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        raise ConfigError(f"invalid PostgreSQL URL {redact_url(url)}: {first_line(exc)}") from None
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or "5432")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    password = params.get("password")
    return PostgresTarget(conninfo, schema, where, str(password) if password else None)


@functools.lru_cache(maxsize=256)
def format_placeholders(query: str) -> str:
    """A query written with ``?`` placeholders in psycopg's ``%s`` style (queries hold no
    ``?`` in literals; a literal ``%`` is doubled)."""
    return query.replace("%", "%%").replace("?", "%s")


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


class PostgresDatabase(Database):
    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = utcnow,
        min_size: int = 1,
        max_size: int = 4,
        pool_timeout: float = 10.0,
    ) -> None:
        super().__init__(url, clock)
        self.target = parse_postgres_url(url)
        self._unreachable: str | None = None  # why, while PostgreSQL cannot be reached
        self._unreachable_since = 0.0
        self._health = threading.Lock()
        # The pool connects in the background and would only report a timeout; one direct
        # attempt first fails fast with libpq's own reason.
        self._probe()
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            self.target.conninfo,
            min_size=min_size,
            max_size=max_size,
            open=True,
            kwargs={"autocommit": True},
            configure=self._configure,
            # Checked on checkout, so a server restart costs a reconnect, not a failed request.
            check=ConnectionPool.check_connection,
            timeout=pool_timeout,
            reconnect_timeout=RECONNECT_TIMEOUT,
            reconnect_failed=self._reconnect_failed,
            name="interlink-store",
        )

    def ping(self) -> None:
        """Return if PostgreSQL answers, else raise ``StoreUnavailable``, within about a
        second: a readiness check must not hang for the pool's timeout."""
        try:
            with self._connection(UNREACHABLE_WAIT) as conn:
                conn.execute("SELECT 1")
        except StoreError as exc:
            raise StoreUnavailable(exc.message, retry_after=exc.retry_after) from exc

    def sql(self, query: str) -> str:
        return format_placeholders(query)

    def ts(self, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def dt(self, value: Any) -> datetime:
        moment: datetime = value.astimezone(UTC)
        return moment

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._connection() as conn:
            yield Session(conn, self)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._connection() as conn, conn.transaction():
            yield Session(conn, self)

    def execute_each(self, driver: Any, query: str, rows: Sequence[Params]) -> list[Row | None]:
        if len(rows) == 1:  # a pipeline costs more than it saves for one statement
            cursor = driver.execute(query, rows[0])
            return [cursor.fetchone() if cursor.description is not None else None]
        # executemany pipelines the statements: every row's result, one round trip.
        cursor = driver.cursor()
        cursor.executemany(query, rows, returning=True)
        return [
            result.fetchone() if result.description is not None else None
            for result in cursor.results()
        ]

    def prepare_migrations(self, session: Session) -> None:
        self.lock_migrations(session)
        if self.target.schema is not None:
            schema = sql.Identifier(self.target.schema).as_string()
            session.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        session.execute(
            "CREATE TABLE IF NOT EXISTS interlink_migrations (version TEXT PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )

    def lock_migrations(self, session: Session) -> None:
        # Released by the commit.
        session.execute(
            "SELECT pg_advisory_xact_lock(hashtext('interlink_migrations'), hashtext(?))",
            (self.target.schema or "",),
        )

    def run_script(self, driver: Any, path: str, script: str) -> None:
        try:
            # No parameters, so psycopg sends the whole file as one multi-statement query.
            driver.execute(script)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            raise MigrationError(f"migration {path} failed: {first_line(exc)}") from exc

    def notify(self, session: Session, channel: str, payload: str) -> None:
        session.execute("SELECT pg_notify(?, ?)", (self._channel(channel), payload))

    def listener(self, channel: str) -> PostgresListener:
        return PostgresListener(self.target, self._channel(channel))

    def _channel(self, channel: str) -> str:
        # Per schema, so stores sharing one database never hear each other.
        return f"{channel}_{self.target.schema or 'public'}"[:63].lower()

    def _probe(self) -> None:
        try:
            with psycopg.connect(self.target.conninfo):
                pass
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot reach PostgreSQL at {self.target.where}: {self._reason(exc)}"
            ) from None

    def _configure(self, conn: Connection) -> None:
        if self.target.schema is not None:
            conn.execute(
                sql.SQL("SET search_path TO {}").format(sql.Identifier(self.target.schema))
            )
        self._reached()  # a new connection: PostgreSQL answers

    def _reconnect_failed(self, pool: object) -> None:
        """The pool gave up connecting for now: one attempt of our own says why, or finds that
        PostgreSQL came back meanwhile."""
        del pool
        try:
            self._probe()
        except StoreUnavailable as exc:
            with self._health:
                first = self._unreachable is None
                self._unreachable = exc.message
                if first:
                    self._unreachable_since = time.monotonic()
            if first:
                logger.warning(
                    "store unavailable: %s; what needs it waits and is tried again",
                    exc.message,
                )

    def _reached(self) -> None:
        with self._health:
            was, self._unreachable = self._unreachable, None
            down = time.monotonic() - self._unreachable_since
        if was is not None:
            logger.info(
                "store available again: PostgreSQL at %s answers (unreachable for %.0f s)",
                self.target.where,
                down,
            )

    @contextmanager
    def _connection(self, wait: float | None = None) -> Iterator[Connection]:
        where = self.target.where
        unreachable = self._unreachable
        if unreachable is not None:  # answer soon, and give the pool one more try meanwhile
            wait = UNREACHABLE_WAIT if wait is None else min(wait, UNREACHABLE_WAIT)
        try:
            with self._pool.connection(wait) as conn:
                yield conn
        except PoolClosed:
            raise StoreError(f"store {self.url} is closed") from None
        except PoolTimeout as exc:
            unreachable = self._unreachable
            if unreachable is not None:
                raise StoreUnavailable(unreachable, retry_after=RETRY_AFTER) from None
            raise StoreUnavailable(
                f"no PostgreSQL connection at {where} became free: {self._reason(exc)}",
                retry_after=RETRY_AFTER,
            ) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"lost PostgreSQL at {where}: {self._reason(exc)}", retry_after=RETRY_AFTER
            ) from exc
        except pg_errors.UndefinedTable as exc:
            raise StoreError(f"PostgreSQL at {where} is not migrated: {first_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {where} failed: {first_line(exc)}") from exc

    def _reason(self, exc: Exception) -> str:
        # libpq prefixes every attempt with 'connection to server at "h", port p failed: '
        # and adds hint lines; keep the cause, on one line, and never the password.
        reason = first_line(exc).rsplit("failed: ", 1)[-1]
        reason = " ".join(reason.split()) or type(exc).__name__
        if self.target.password:
            reason = reason.replace(self.target.password, "***")
        return reason


class PostgresListener:
    """LISTEN on a connection of its own, outside the pool (a pooled connection would be lent
    to others and its notifications lost)."""

    def __init__(self, target: PostgresTarget, channel: str) -> None:
        self._target = target
        try:
            self._conn: Connection = psycopg.connect(target.conninfo, autocommit=True)
            self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot listen on PostgreSQL at {target.where}: {first_line(exc)}"
            ) from None

    def wait(self, timeout: float) -> bool:
        try:
            return any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1))
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"lost the PostgreSQL listener at {self._target.where}: {first_line(exc)}"
            ) from None

    def close(self) -> None:
        self._conn.close()
