"""The embedded store: one SQLite file (or ``:memory:``), stdlib ``sqlite3``.

A single connection serves every thread, serialized by a lock: SQLite allows one writer at a
time anyway, and the admin workload is small. WAL mode lets other processes (the CLI next to a
running server) read while this one writes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

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
from interlink.store.migrations import split_sqlite_script as _split

logger = logging.getLogger("interlink.store")

_PREFIX: Final = "sqlite:///"
_MEMORY: Final = ":memory:"
_ID_ATTEMPTS: Final = 3
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


class SQLiteStore(Store):
    def __init__(self, url: str, *, clock: Clock = utcnow, busy_timeout: float = 5.0) -> None:
        self._url = url
        self._path = sqlite_path(url)
        self._clock = clock
        self._lock = threading.RLock()
        self._closed = False
        self._conn = _connect(self._path, busy_timeout)

    @property
    def url(self) -> str:
        return redact_url(self._url)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def ping(self) -> None:
        try:
            with self._locked() as conn:
                conn.execute("SELECT 1").fetchone()
        except StoreError as exc:
            raise StoreUnavailable(exc.message) from exc

    def migrate(self) -> list[str]:
        with self._transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS interlink_migrations ("
                "version TEXT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        applied: list[str] = []
        for migration in load_migrations("sqlite"):
            # BEGIN IMMEDIATE takes the write lock before the check, so two processes
            # migrating at once apply each file exactly once.
            with self._transaction() as conn:
                done = conn.execute(
                    "SELECT 1 FROM interlink_migrations WHERE version = ?",
                    (migration.version,),
                ).fetchone()
                if done is None:
                    self._apply(conn, migration)
                    applied.append(migration.version)
        return applied

    def _apply(self, conn: sqlite3.Connection, migration: Migration) -> None:
        try:
            for statement in _split(migration.sql):
                conn.execute(statement)
        except sqlite3.Error as exc:
            raise MigrationError(f"migration sqlite/{migration.filename} failed: {exc}") from exc
        conn.execute(
            "INSERT INTO interlink_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, _ts(self._clock())),
        )
        logger.info("applied migration sqlite/%s to %s", migration.filename, self._path)

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
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO revisions (hash, applied_at, applied_by, source, summary, "
                "object_hashes) VALUES (?, ?, ?, ?, ?, ?)",
                (hash, _ts(applied_at), applied_by, source, summary_json, hashes_json),
            )
            revision_id = cursor.lastrowid
        assert revision_id is not None
        return Revision(
            revision_id,
            hash,
            applied_at,
            applied_by,
            source,
            json.loads(summary_json),
            json.loads(hashes_json),
        )

    def latest_revision(self) -> Revision | None:
        revisions = self.list_revisions(limit=1)
        return revisions[0] if revisions else None

    def list_revisions(self, limit: int = 50, before_id: int | None = None) -> list[Revision]:
        check_page(limit)
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT id, hash, applied_at, applied_by, source, summary, object_hashes "
                "FROM revisions WHERE ? IS NULL OR id < ? ORDER BY id DESC LIMIT ?",
                (before_id, before_id, limit),
            ).fetchall()
        return [_revision(row) for row in rows]

    def get_revision(self, id: int) -> Revision:
        with self._locked() as conn:
            row = conn.execute(
                "SELECT id, hash, applied_at, applied_by, source, summary, object_hashes "
                "FROM revisions WHERE id = ?",
                (id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"revision {id} not found")
        return _revision(row)

    def create_token(self, role: Role, name: str) -> tuple[str, TokenInfo]:
        role, name = as_role(role), check_token_name(name)
        created_at = self._clock().astimezone(UTC)
        for attempt in range(_ID_ATTEMPTS):
            token = new_token()
            try:
                with self._transaction() as conn:
                    conn.execute(
                        "INSERT INTO admin_tokens (id, name, role, token_hash, created_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (token.id, name, role, token.digest, _ts(created_at)),
                    )
            except StoreError as exc:
                # A random id collided with an existing one: draw again.
                if isinstance(exc.__cause__, sqlite3.IntegrityError) and attempt + 1 < _ID_ATTEMPTS:
                    continue
                raise
            return token.plaintext, TokenInfo(token.id, name, role, created_at, None, False)
        raise StoreError("could not allocate a unique token id")  # pragma: no cover

    def verify_token(self, plaintext: str) -> TokenInfo | None:
        token_id = token_id_of(plaintext)
        if token_id is None:
            return None
        with self._locked() as conn:
            row = conn.execute(
                "SELECT id, name, role, created_at, last_used_at, revoked_at, token_hash "
                "FROM admin_tokens WHERE id = ?",
                (token_id,),
            ).fetchone()
            if row is None or row[5] is not None or not digest_matches(plaintext, row[6]):
                return None
            info = _token(row)
            now = self._clock().astimezone(UTC)
            if not token_touch_due(info.last_used_at, now):
                return info
            # Conditional, so processes sharing the file do not all rewrite the same minute.
            conn.execute(
                "UPDATE admin_tokens SET last_used_at = ? WHERE id = ? "
                "AND (last_used_at IS NULL OR last_used_at <= ?)",
                (_ts(now), token_id, _ts(now - TOKEN_TOUCH_INTERVAL)),
            )
        return TokenInfo(info.id, info.name, info.role, info.created_at, now, False)

    def list_tokens(self) -> list[TokenInfo]:
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT id, name, role, created_at, last_used_at, revoked_at "
                "FROM admin_tokens ORDER BY created_at, id"
            ).fetchall()
        return [_token(row) for row in rows]

    def revoke_token(self, id: str) -> None:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                (_ts(self._clock()), id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"token {id!r} not found")

    def has_admin_token(self) -> bool:
        with self._locked() as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM admin_tokens "
                "WHERE role = 'admin' AND revoked_at IS NULL)"
            ).fetchone()
        return bool(row[0])

    def create_consumer_key(
        self, consumer: str, name: str, expires_at: datetime | None = None
    ) -> tuple[str, ConsumerKey]:
        name = check_token_name(name)
        created_at = self._clock().astimezone(UTC)
        for attempt in range(_ID_ATTEMPTS):
            key = new_token(KEY_PREFIX)
            try:
                with self._transaction() as conn:
                    conn.execute(
                        "INSERT INTO consumer_keys "
                        "(id, consumer, name, key_hash, created_at, expires_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            key.id,
                            consumer,
                            name,
                            key.digest,
                            _ts(created_at),
                            None if expires_at is None else _ts(expires_at),
                        ),
                    )
            except StoreError as exc:
                if isinstance(exc.__cause__, sqlite3.IntegrityError) and attempt + 1 < _ID_ATTEMPTS:
                    continue
                raise
            info = ConsumerKey(key.id, consumer, name, created_at, expires_at, False, key.digest)
            return key.plaintext, info
        raise StoreError("could not allocate a unique key id")  # pragma: no cover

    def list_consumer_keys(self, consumer: str | None = None) -> list[ConsumerKey]:
        query = (
            "SELECT id, consumer, name, created_at, expires_at, revoked_at, key_hash "
            "FROM consumer_keys"
        )
        with self._locked() as conn:
            if consumer is None:
                rows = conn.execute(f"{query} ORDER BY created_at, id").fetchall()
            else:
                rows = conn.execute(
                    f"{query} WHERE consumer = ? ORDER BY created_at, id", (consumer,)
                ).fetchall()
        return [_consumer_key(row) for row in rows]

    def revoke_consumer_key(self, id: str) -> None:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE consumer_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                (_ts(self._clock()), id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"key {id!r} not found")

    def consumer_keys_version(self) -> int:
        with self._locked() as conn:
            row = conn.execute("SELECT version FROM consumer_keys_version WHERE id = 1").fetchone()
        return int(row[0]) if row is not None else 0

    def record_connections(self, rows: list[ObservedConnection]) -> None:
        if not rows:
            return
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO observed_connections (hour, consumer, route, system, count) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (hour, consumer, route, system) "
                "DO UPDATE SET count = count + excluded.count",
                [(_ts(hour_start(r.hour)), r.consumer, r.route, r.system, r.count) for r in rows],
            )

    def observed_connections(self, since: datetime | None = None) -> list[ObservedConnection]:
        query = "SELECT hour, consumer, route, system, count FROM observed_connections"
        order = " ORDER BY hour, consumer, route, system"
        with self._locked() as conn:
            if since is None:
                rows = conn.execute(query + order).fetchall()
            else:
                rows = conn.execute(
                    query + " WHERE hour >= ?" + order, (_ts(hour_start(since)),)
                ).fetchall()
        return [
            ObservedConnection(datetime.fromisoformat(r[0]), r[1], r[2], r[3], r[4]) for r in rows
        ]

    def record_comparisons(
        self,
        route: str,
        period_start: datetime,
        compared: int,
        matched: int,
        field_counts: Mapping[str, int],
    ) -> None:
        start = _ts(period_start)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO shadow_comparisons (route, period_start, compared, matched) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (route, period_start) DO UPDATE SET "
                "compared = shadow_comparisons.compared + excluded.compared, "
                "matched = shadow_comparisons.matched + excluded.matched",
                (route, start, compared, matched),
            )
            for name, count in field_counts.items():
                conn.execute(
                    "INSERT INTO shadow_comparison_fields (route, period_start, field, mismatches) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (route, period_start, field) DO UPDATE "
                    "SET mismatches = shadow_comparison_fields.mismatches + excluded.mismatches",
                    (route, start, name, count),
                )

    def comparison_summary(self, route: str, since: datetime, top: int = 10) -> ComparisonSummary:
        check_page(top)
        start = _ts(since)
        with self._locked() as conn:
            totals = conn.execute(
                "SELECT COALESCE(SUM(compared), 0), COALESCE(SUM(matched), 0) "
                "FROM shadow_comparisons WHERE route = ? AND period_start >= ?",
                (route, start),
            ).fetchone()
            fields = conn.execute(
                "SELECT field, SUM(mismatches) AS n FROM shadow_comparison_fields "
                "WHERE route = ? AND period_start >= ? GROUP BY field ORDER BY n DESC, field "
                "LIMIT ?",
                (route, start, top),
            ).fetchall()
        compared, matched = (int(totals[0]), int(totals[1])) if totals else (0, 0)
        return ComparisonSummary(
            route, since, compared, matched, [(str(f), int(n)) for f, n in fields]
        )

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreError(f"store {self.url} is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _translate(exc, self._path) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # The connection is in autocommit mode; IMMEDIATE takes the write lock up front so a
        # read-then-write never fails half-way on a lock upgrade.
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def _connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    where = f"cannot open SQLite database at {path}"
    if path != _MEMORY:
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


def _translate(exc: sqlite3.Error, path: str) -> StoreError:
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return StoreUnavailable(f"SQLite database {path} is busy: {text}", retry_after=1.0)
    if any(marker in lowered for marker in _UNAVAILABLE):
        return StoreUnavailable(f"SQLite database {path} is unusable: {text}")
    if "no such table" in lowered:
        return StoreError(f"SQLite database {path} is not migrated: {text}")
    return StoreError(f"SQLite database {path} failed: {text}")


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _revision(row: tuple[Any, ...]) -> Revision:
    return Revision(
        id=row[0],
        hash=row[1],
        applied_at=datetime.fromisoformat(row[2]),
        applied_by=row[3],
        source=row[4],
        summary=json.loads(row[5]),
        object_hashes=json.loads(row[6]),
    )


def _consumer_key(row: tuple[Any, ...]) -> ConsumerKey:
    return ConsumerKey(
        id=row[0],
        consumer=row[1],
        name=row[2],
        created_at=datetime.fromisoformat(row[3]),
        expires_at=_parse_ts(row[4]),
        revoked=row[5] is not None,
        digest=row[6],
    )


def _token(row: tuple[Any, ...]) -> TokenInfo:
    return TokenInfo(
        id=row[0],
        name=row[1],
        role=as_role(row[2]),
        created_at=datetime.fromisoformat(row[3]),
        last_used_at=_parse_ts(row[4]),
        revoked=row[5] is not None,
    )
