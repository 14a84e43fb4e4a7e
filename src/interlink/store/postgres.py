"""The shared store: PostgreSQL through psycopg 3 and a small connection pool.

``postgresql://user@host:port/db?schema=NAME`` keeps every table in schema ``NAME`` (created
by :meth:`PostgresStore.migrate`), so several estates or test runs can share one database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
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

from interlink.errors import (
    ConfigError,
    MigrationError,
    NotFound,
    StoreError,
    StoreUnavailable,
)
from interlink.store.base import (
    KEY_PREFIX,
    TOKEN_TOUCH_INTERVAL,
    Clock,
    ComparisonSummary,
    ConsumerKey,
    ObservedConnection,
    Revision,
    Role,
    Store,
    TokenInfo,
    as_role,
    check_page,
    check_token_name,
    digest_matches,
    dump_json,
    hour_start,
    new_token,
    redact_url,
    token_id_of,
    token_touch_due,
    utcnow,
)
from interlink.store.migrations import Migration, load_migrations

logger = logging.getLogger("interlink.store")

Connection = psycopg.Connection[TupleRow]

DEFAULT_CONNECT_TIMEOUT: Final = 5
_SCHEMA_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_ID_ATTEMPTS: Final = 3


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
        raise ConfigError(f"invalid PostgreSQL URL {redact_url(url)}: {_first_line(exc)}") from None
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or "5432")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    password = params.get("password")
    return PostgresTarget(conninfo, schema, where, str(password) if password else None)


class PostgresStore(Store):
    def __init__(
        self,
        url: str,
        *,
        clock: Clock = utcnow,
        min_size: int = 1,
        max_size: int = 4,
        pool_timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._target = parse_postgres_url(url)
        self._clock = clock
        # The pool connects in the background and would only report a timeout; one direct
        # attempt first fails fast with libpq's own reason.
        self._probe()
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            self._target.conninfo,
            min_size=min_size,
            max_size=max_size,
            open=True,
            kwargs={"autocommit": True},
            configure=self._configure,
            # Checked on checkout, so a server restart costs a reconnect, not a failed request.
            check=ConnectionPool.check_connection,
            timeout=pool_timeout,
            name="interlink-store",
        )

    @property
    def url(self) -> str:
        return redact_url(self._url)

    def close(self) -> None:
        self._pool.close()

    def ping(self) -> None:
        try:
            with self._connection() as conn:
                conn.execute("SELECT 1").fetchone()
        except StoreError as exc:
            raise StoreUnavailable(exc.message) from exc

    def migrate(self) -> list[str]:
        with self._connection() as conn:
            with conn.transaction():
                self._lock_migrations(conn)
                if self._target.schema is not None:
                    conn.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                            sql.Identifier(self._target.schema)
                        )
                    )
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS interlink_migrations (version TEXT PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
                )
            applied: list[str] = []
            for migration in load_migrations("postgres"):
                with conn.transaction():
                    # The advisory lock serializes migrators across processes and is released
                    # by the commit, so each file is applied exactly once.
                    self._lock_migrations(conn)
                    done = conn.execute(
                        "SELECT 1 FROM interlink_migrations WHERE version = %s",
                        (migration.version,),
                    ).fetchone()
                    if done is None:
                        self._apply(conn, migration)
                        applied.append(migration.version)
        return applied

    def _lock_migrations(self, conn: Connection) -> None:
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('interlink_migrations'), hashtext(%s))",
            (self._target.schema or "",),
        )

    def _apply(self, conn: Connection, migration: Migration) -> None:
        try:
            # No parameters, so psycopg sends the whole file as one multi-statement query.
            conn.execute(migration.sql)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            raise MigrationError(
                f"migration postgres/{migration.filename} failed: {_first_line(exc)}"
            ) from exc
        conn.execute(
            "INSERT INTO interlink_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
            (migration.version, migration.name, self._clock()),
        )
        logger.info("applied migration postgres/%s to %s", migration.filename, self.url)

    def record_revision(
        self,
        hash: str,
        applied_by: str,
        source: str,
        summary: Mapping[str, Any],
        object_hashes: Mapping[str, str],
    ) -> Revision:
        summary_json, hashes_json = dump_json(summary), dump_json(object_hashes)
        applied_at = self._clock().astimezone(UTC)
        with self._connection() as conn:
            row = conn.execute(
                "INSERT INTO revisions (hash, applied_at, applied_by, source, summary, "
                "object_hashes) VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb) "
                "RETURNING id, hash, applied_at, applied_by, source, summary, object_hashes",
                (hash, applied_at, applied_by, source, summary_json, hashes_json),
            ).fetchone()
        assert row is not None
        return _revision(row)

    def latest_revision(self) -> Revision | None:
        revisions = self.list_revisions(limit=1)
        return revisions[0] if revisions else None

    def list_revisions(self, limit: int = 50, before_id: int | None = None) -> list[Revision]:
        check_page(limit)
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id, hash, applied_at, applied_by, source, summary, object_hashes "
                "FROM revisions WHERE %s::bigint IS NULL OR id < %s ORDER BY id DESC LIMIT %s",
                (before_id, before_id, limit),
            ).fetchall()
        return [_revision(row) for row in rows]

    def get_revision(self, id: int) -> Revision:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT id, hash, applied_at, applied_by, source, summary, object_hashes "
                "FROM revisions WHERE id = %s",
                (id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"revision {id} not found")
        return _revision(row)

    def create_token(self, role: Role, name: str) -> tuple[str, TokenInfo]:
        role, name = as_role(role), check_token_name(name)
        created_at = self._clock().astimezone(UTC)
        with self._connection() as conn:
            for _ in range(_ID_ATTEMPTS):
                token = new_token()
                # A random id colliding with an existing one inserts nothing: draw again.
                inserted = conn.execute(
                    "INSERT INTO admin_tokens (id, name, role, token_hash, created_at) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                    (token.id, name, role, token.digest, created_at),
                ).fetchone()
                if inserted is not None:
                    info = TokenInfo(token.id, name, role, created_at, None, False)
                    return token.plaintext, info
        raise StoreError("could not allocate a unique token id")

    def verify_token(self, plaintext: str) -> TokenInfo | None:
        token_id = token_id_of(plaintext)
        if token_id is None:
            return None
        with self._connection() as conn:
            row = conn.execute(
                "SELECT id, name, role, created_at, last_used_at, revoked_at, token_hash "
                "FROM admin_tokens WHERE id = %s",
                (token_id,),
            ).fetchone()
            if row is None or row[5] is not None or not digest_matches(plaintext, row[6]):
                return None
            info = _token(row)
            now = self._clock().astimezone(UTC)
            if not token_touch_due(info.last_used_at, now):
                return info
            # Conditional, so concurrent requests on several nodes write the minute only once.
            conn.execute(
                "UPDATE admin_tokens SET last_used_at = %s WHERE id = %s "
                "AND (last_used_at IS NULL OR last_used_at <= %s)",
                (now, token_id, now - TOKEN_TOUCH_INTERVAL),
            )
        return TokenInfo(info.id, info.name, info.role, info.created_at, now, False)

    def list_tokens(self) -> list[TokenInfo]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id, name, role, created_at, last_used_at, revoked_at "
                "FROM admin_tokens ORDER BY created_at, id"
            ).fetchall()
        return [_token(row) for row in rows]

    def revoke_token(self, id: str) -> None:
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, %s) WHERE id = %s",
                (self._clock(), id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"token {id!r} not found")

    def create_consumer_key(
        self, consumer: str, name: str, expires_at: datetime | None = None
    ) -> tuple[str, ConsumerKey]:
        name = check_token_name(name)
        created_at = self._clock().astimezone(UTC)
        with self._connection() as conn:
            for _ in range(_ID_ATTEMPTS):
                key = new_token(KEY_PREFIX)
                inserted = conn.execute(
                    "INSERT INTO consumer_keys "
                    "(id, consumer, name, key_hash, created_at, expires_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                    (key.id, consumer, name, key.digest, created_at, expires_at),
                ).fetchone()
                if inserted is not None:
                    info = ConsumerKey(
                        key.id, consumer, name, created_at, expires_at, False, key.digest
                    )
                    return key.plaintext, info
        raise StoreError("could not allocate a unique key id")

    def list_consumer_keys(self, consumer: str | None = None) -> list[ConsumerKey]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id, consumer, name, created_at, expires_at, revoked_at, key_hash "
                "FROM consumer_keys WHERE %s::text IS NULL OR consumer = %s "
                "ORDER BY created_at, id",
                (consumer, consumer),
            ).fetchall()
        return [ConsumerKey(r[0], r[1], r[2], r[3], r[4], r[5] is not None, r[6]) for r in rows]

    def revoke_consumer_key(self, id: str) -> None:
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE consumer_keys SET revoked_at = COALESCE(revoked_at, %s) WHERE id = %s",
                (self._clock(), id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"key {id!r} not found")

    def consumer_keys_version(self) -> int:
        with self._connection() as conn:
            row = conn.execute("SELECT version FROM consumer_keys_version").fetchone()
        return int(row[0]) if row is not None else 0

    def has_admin_token(self) -> bool:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM admin_tokens "
                "WHERE role = 'admin' AND revoked_at IS NULL)"
            ).fetchone()
        return bool(row and row[0])

    def record_connections(self, rows: list[ObservedConnection]) -> None:
        if not rows:
            return
        with self._connection() as conn, conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO observed_connections (hour, consumer, route, system, count) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (hour, consumer, route, system) "
                "DO UPDATE SET count = observed_connections.count + excluded.count",
                [(hour_start(r.hour), r.consumer, r.route, r.system, r.count) for r in rows],
            )

    def observed_connections(self, since: datetime | None = None) -> list[ObservedConnection]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT hour, consumer, route, system, count FROM observed_connections "
                "WHERE %s::timestamptz IS NULL OR hour >= %s "
                "ORDER BY hour, consumer, route, system",
                (None if since is None else hour_start(since),) * 2,
            ).fetchall()
        return [ObservedConnection(r[0].astimezone(UTC), r[1], r[2], r[3], r[4]) for r in rows]

    def record_comparisons(
        self,
        route: str,
        period_start: datetime,
        compared: int,
        matched: int,
        field_counts: Mapping[str, int],
    ) -> None:
        start = period_start.astimezone(UTC)
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO shadow_comparisons (route, period_start, compared, matched) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (route, period_start) DO UPDATE SET "
                "compared = shadow_comparisons.compared + excluded.compared, "
                "matched = shadow_comparisons.matched + excluded.matched",
                (route, start, compared, matched),
            )
            for name, count in field_counts.items():
                conn.execute(
                    "INSERT INTO shadow_comparison_fields (route, period_start, field, mismatches) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (route, period_start, field) DO UPDATE "
                    "SET mismatches = shadow_comparison_fields.mismatches + excluded.mismatches",
                    (route, start, name, count),
                )

    def comparison_summary(self, route: str, since: datetime, top: int = 10) -> ComparisonSummary:
        check_page(top)
        start = since
        with self._connection() as conn:
            totals = conn.execute(
                "SELECT COALESCE(SUM(compared), 0), COALESCE(SUM(matched), 0) "
                "FROM shadow_comparisons WHERE route = %s AND period_start >= %s",
                (route, start),
            ).fetchone()
            fields = conn.execute(
                "SELECT field, SUM(mismatches) AS n FROM shadow_comparison_fields "
                "WHERE route = %s AND period_start >= %s GROUP BY field ORDER BY n DESC, field "
                "LIMIT %s",
                (route, start, top),
            ).fetchall()
        compared, matched = (int(totals[0]), int(totals[1])) if totals else (0, 0)
        return ComparisonSummary(
            route, since, compared, matched, [(str(f), int(n)) for f, n in fields]
        )

    def _probe(self) -> None:
        try:
            with psycopg.connect(self._target.conninfo):
                pass
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot reach PostgreSQL at {self._target.where}: {self._reason(exc)}"
            ) from None

    def _configure(self, conn: Connection) -> None:
        if self._target.schema is not None:
            conn.execute(
                sql.SQL("SET search_path TO {}").format(sql.Identifier(self._target.schema))
            )

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        where = self._target.where
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolClosed:
            raise StoreError(f"store {self.url} is closed") from None
        except PoolTimeout as exc:
            raise StoreUnavailable(
                f"no PostgreSQL connection at {where} became free: {self._reason(exc)}",
                retry_after=1.0,
            ) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"lost PostgreSQL at {where}: {self._reason(exc)}") from exc
        except pg_errors.UndefinedTable as exc:
            raise StoreError(f"PostgreSQL at {where} is not migrated: {_first_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {where} failed: {_first_line(exc)}") from exc

    def _reason(self, exc: Exception) -> str:
        # libpq prefixes every attempt with 'connection to server at "h", port p failed: '
        # and adds hint lines; keep the cause, on one line, and never the password.
        reason = _first_line(exc).rsplit("failed: ", 1)[-1]
        reason = " ".join(reason.split()) or type(exc).__name__
        if self._target.password:
            reason = reason.replace(self._target.password, "***")
        return reason


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _revision(row: tuple[Any, ...]) -> Revision:
    return Revision(
        id=row[0],
        hash=row[1],
        applied_at=row[2].astimezone(UTC),
        applied_by=row[3],
        source=row[4],
        summary=dict(row[5]),
        object_hashes=dict(row[6]),
    )


def _token(row: tuple[Any, ...]) -> TokenInfo:
    return TokenInfo(
        id=row[0],
        name=row[1],
        role=as_role(row[2]),
        created_at=row[3].astimezone(UTC),
        last_used_at=_utc(row[4]),
        revoked=row[5] is not None,
    )
