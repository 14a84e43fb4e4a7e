"""The store against real databases: every ``store_url`` test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from interlink.errors import AuthError, ConfigError, MigrationError, NotFound, StoreUnavailable
from interlink.store import (
    ROLES,
    LastAdmin,
    Role,
    Store,
    default_store_url,
    open_store,
    redact_url,
    role_allows,
)
from interlink.store.database import INSERT_CHUNK
from interlink.store.keyring import KeyRing
from interlink.store.migrations import load_migrations, split_sqlite_script
from interlink.store.postgres import parse_postgres_url

T0 = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


StoreFactory = Callable[[], Store]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def open_stores(store_url: str, clock: FakeClock) -> Iterator[StoreFactory]:
    """Opens stores on ``store_url`` (unmigrated) and closes them all at teardown."""
    opened: list[Store] = []

    def factory() -> Store:
        opened.append(open_store(store_url, clock=clock))
        return opened[-1]

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_stores: StoreFactory) -> Store:
    store = open_stores()
    store.migrate()
    return store


def raw_query(url: str, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run SQL outside the store, to see exactly what it wrote. Use %s placeholders."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path)
        try:
            with conn:
                return conn.execute(query.replace("%s", "?"), tuple(params)).fetchall()
        finally:
            conn.close()
    target = parse_postgres_url(url)
    with psycopg.connect(target.conninfo, autocommit=True) as pg:
        if target.schema:
            pg.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {0}; SET search_path TO {0}").format(
                    sql.Identifier(target.schema)
                )
            )
        cursor = pg.execute(query, tuple(params))
        return cursor.fetchall() if cursor.description else []


# --- migrations ------------------------------------------------------------------------------


ALL_VERSIONS = [m.version for m in load_migrations("sqlite")]


def test_migrate_is_idempotent(store_url: str, open_stores: StoreFactory) -> None:
    first = open_stores()
    assert first.migrate() == ALL_VERSIONS
    assert ALL_VERSIONS[0] == "0001"
    assert first.migrate() == []
    assert open_stores().migrate() == []
    rows = raw_query(store_url, "SELECT version, name FROM interlink_migrations ORDER BY version")
    assert rows[0] == ("0001", "init")
    assert [version for version, _ in rows] == ALL_VERSIONS


def test_concurrent_migrate_applies_each_file_once(
    store_url: str, open_stores: StoreFactory
) -> None:
    stores = [open_stores() for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def migrate(store: Store) -> list[str]:
        barrier.wait()
        return store.migrate()

    with ThreadPoolExecutor(len(stores)) as pool:
        results = list(pool.map(migrate, stores))
    assert sorted(v for applied in results for v in applied) == ALL_VERSIONS
    count = len(ALL_VERSIONS)
    assert raw_query(store_url, "SELECT count(*) FROM interlink_migrations") == [(count,)]
    for store in stores:
        assert store.revisions.latest() is None


def test_failing_migration_names_the_file_and_rolls_back(
    store_url: str, open_stores: StoreFactory
) -> None:
    # A table in the way of the last CREATE in 0001: everything before it must be undone.
    raw_query(store_url, "CREATE TABLE admin_tokens (unrelated INTEGER)")
    store = open_stores()
    with pytest.raises(MigrationError, match=r"0001_init\.sql") as caught:
        store.migrate()
    assert "\n" not in caught.value.message
    assert raw_query(store_url, "SELECT version FROM interlink_migrations") == []

    raw_query(store_url, "DROP TABLE admin_tokens")
    assert store.migrate() == ALL_VERSIONS


def test_migration_files_exist_for_both_backends() -> None:
    sqlite_versions = [m.version for m in load_migrations("sqlite")]
    assert sqlite_versions == [m.version for m in load_migrations("postgres")]
    assert sqlite_versions[0] == "0001"


def test_sqlite_script_split_respects_literals_and_triggers() -> None:
    script = """
        -- a comment; with a semicolon
        CREATE TABLE t (x TEXT DEFAULT 'a;b');
        CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN
            UPDATE t SET x = 'c;d' WHERE rowid = new.rowid;
        END;
        /* trailing comment */
    """
    statements = split_sqlite_script(script)
    assert len(statements) == 2
    assert statements[1].endswith("END;")


# --- revisions -------------------------------------------------------------------------------


def test_revisions_are_recorded_ordered_and_paged(store: Store, clock: FakeClock) -> None:
    assert store.revisions.latest() is None
    assert store.revisions.list() == []
    recorded = []
    for n in range(5):
        clock.advance(1)
        recorded.append(store.revisions.record(f"h{n}", "alice", "file", {"n": n}, {}))
    ids = [r.id for r in recorded]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5

    assert store.revisions.latest() == recorded[-1]
    assert store.revisions.list() == recorded[::-1]
    assert [r.id for r in store.revisions.list(limit=2)] == [ids[4], ids[3]]
    assert [r.id for r in store.revisions.list(limit=2, before_id=ids[3])] == [ids[2], ids[1]]
    assert [r.id for r in store.revisions.list(limit=2, before_id=ids[1])] == [ids[0]]
    assert store.revisions.list(before_id=ids[0]) == []
    assert store.revisions.get(ids[2]) == recorded[2]
    assert recorded[2].applied_at == T0 + timedelta(seconds=3)


def test_get_missing_revision_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="revision 999 not found"):
        store.revisions.get(999)


def test_revision_json_round_trips(store: Store, clock: FakeClock) -> None:
    summary: dict[str, Any] = {
        "added": ["System/crm", "Api/crm-v1"],
        "changed": {"Route/orders": {"fields": ["upstreams"], "weight": 0.25}},
        "removed": [],
        "note": "Grüße, 東京 \"quoted\" \\ and 'single'",
        "flags": {"breaking": False, "forced": True, "ticket": None},
        "count": 3,
    }
    hashes = {"System/crm": "sha256:" + "a" * 64, "Api/crm-v1": "sha256:" + "b" * 64}
    recorded = store.revisions.record("rev-hash", "ci@example.com", "apply", summary, hashes)
    fetched = store.revisions.get(recorded.id)
    assert fetched == recorded
    assert fetched.summary == summary
    assert fetched.object_hashes == hashes
    assert fetched.applied_at == T0
    assert fetched.applied_at.utcoffset() == timedelta(0)
    assert (fetched.hash, fetched.applied_by, fetched.source) == (
        "rev-hash",
        "ci@example.com",
        "apply",
    )


def test_revision_with_unserializable_summary_is_rejected(store: Store) -> None:
    with pytest.raises(TypeError):
        store.revisions.record("h", "alice", "file", {"when": datetime.now(UTC)}, {})
    assert store.revisions.latest() is None


def test_list_revisions_rejects_a_non_positive_limit(store: Store) -> None:
    with pytest.raises(ConfigError, match="limit"):
        store.revisions.list(limit=0)


def test_concurrent_writers_get_distinct_ids(store: Store) -> None:
    def write(worker: int) -> list[int]:
        return [store.revisions.record(f"{worker}-{n}", "w", "t", {}, {}).id for n in range(10)]

    with ThreadPoolExecutor(8) as pool:
        ids = [i for batch in pool.map(write, range(8)) for i in batch]
    assert len(set(ids)) == 80
    assert len(store.revisions.list(limit=100)) == 80


@pytest.mark.parametrize("count", [0, 1, INSERT_CHUNK, 2 * INSERT_CHUNK + 1])
def test_rows_inserted_many_a_statement_keep_their_order_and_values(
    store: Store, count: int
) -> None:
    table = f"rows_{count}"
    rows = [(n, f"text {n} \x1f é", n * 1.5 if n % 2 else None) for n in range(count)]
    key = "INTEGER PRIMARY KEY" if store.db.dialect == "sqlite" else "SERIAL PRIMARY KEY"
    with store.db.transaction() as session:
        session.execute(f"CREATE TABLE {table} (id {key}, n INTEGER, t TEXT, x REAL)")
        session.insert_rows(f"INSERT INTO {table} (n, t, x)", rows)
    with store.db.session() as session:
        stored = session.fetchall(f"SELECT id, n, t, x FROM {table} ORDER BY id")
        session.execute(f"DROP TABLE {table}")
    assert [row[1:] for row in stored] == rows  # by id: in the order given


# --- tokens ----------------------------------------------------------------------------------


def test_token_create_and_verify(store: Store, clock: FakeClock) -> None:
    plaintext, info = store.tokens.create("operator", "deploy-bot")
    prefix, token_id, secret = plaintext.split("_", 2)
    assert (prefix, token_id) == ("il", info.id)
    assert len(token_id) == 8
    assert len(secret) >= 43
    assert (info.name, info.role, info.revoked, info.last_used_at) == (
        "deploy-bot",
        "operator",
        False,
        None,
    )
    assert info.created_at == T0

    clock.advance(5)
    verified = store.tokens.verify(plaintext)
    assert verified is not None
    assert (verified.id, verified.role, verified.last_used_at) == (info.id, "operator", clock.now)
    assert store.tokens.list() == [verified]


def test_wrong_unknown_and_malformed_tokens_are_rejected(store: Store) -> None:
    plaintext, info = store.tokens.create("admin", "root")
    flipped = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    unknown_id = f"il_{'z' * 8}_{plaintext.split('_', 2)[2]}"
    candidates = [
        flipped,
        unknown_id,
        "",
        "il_",
        "il__",
        f"il_{info.id}_",
        f"il_{info.id}_short",
        plaintext + "x" * 200,
        plaintext.upper(),
        " " + plaintext,
        f"Bearer {plaintext}",
        f"il_{info.id.upper()}_{plaintext.split('_', 2)[2]}",
    ]
    for candidate in candidates:
        assert store.tokens.verify(candidate) is None, candidate
    assert store.tokens.verify(plaintext) is not None


def test_revoked_token_is_rejected(store: Store, store_url: str, clock: FakeClock) -> None:
    plaintext, info = store.tokens.create("admin", "root")
    keep, _ = store.tokens.create("admin", "second")
    store.tokens.revoke(info.id)
    clock.advance(60)
    store.tokens.revoke(info.id)
    assert store.tokens.verify(plaintext) is None
    assert store.tokens.verify(keep) is not None
    revoked = {t.id: t.revoked for t in store.tokens.list()}
    assert revoked[info.id] is True
    assert list(revoked.values()).count(False) == 1
    assert raw_revoked_at(store_url, info.id) == T0


def raw_revoked_at(url: str, token_id: str) -> datetime:
    ((value,),) = raw_query(url, "SELECT revoked_at FROM admin_tokens WHERE id = %s", [token_id])
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def test_revoke_unknown_token_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="nope1234"):
        store.tokens.revoke("nope1234")


def test_has_admin_token(store: Store, clock: FakeClock) -> None:
    assert store.tokens.has_admin() is False
    store.tokens.create("operator", "ops")
    assert store.tokens.has_admin() is False
    store.tokens.create("admin", "sales-admin", team=None, expires_in=timedelta(minutes=1))
    assert store.tokens.has_admin() is True
    clock.advance(60)  # an expired admin administers nothing
    assert store.tokens.has_admin() is False
    _, admin = store.tokens.create("admin", "root")
    assert store.tokens.has_admin() is True
    with pytest.raises(LastAdmin):
        store.tokens.revoke(admin.id)
    assert store.tokens.has_admin() is True


def test_the_last_active_platform_admin_is_never_revoked(store: Store, clock: FakeClock) -> None:
    _, first = store.tokens.create("admin", "first")
    _, second = store.tokens.create("admin", "second", expires_in=timedelta(hours=1))
    _, team_op = store.tokens.create("operator", "sales-ops", team="sales")
    store.tokens.revoke(team_op.id)
    store.tokens.revoke(first.id)  # the second one still administers
    with pytest.raises(LastAdmin, match=f"token {second.id} is the last active platform admin"):
        store.tokens.revoke(second.id)
    _, third = store.tokens.create("admin", "third")
    clock.advance(3600)  # the second expires: the third is now the last
    with pytest.raises(LastAdmin):
        store.tokens.revoke(third.id)
    store.tokens.revoke(second.id)  # an expired admin may be revoked
    revoked = {t.id: t.revoked for t in store.tokens.list()}
    assert revoked == {first.id: True, second.id: True, team_op.id: True, third.id: False}


def test_revoking_every_admin_at_once_keeps_one(store: Store) -> None:
    admins = [store.tokens.create("admin", f"admin-{n}")[1].id for n in range(4)]
    barrier = threading.Barrier(len(admins))

    def revoke(token_id: str) -> bool:
        barrier.wait()
        try:
            store.tokens.revoke(token_id)
        except LastAdmin:
            return False
        return True

    with ThreadPoolExecutor(len(admins)) as pool:
        revoked = list(pool.map(revoke, admins))
    assert revoked.count(False) == 1
    assert store.tokens.has_admin() is True
    assert [t.revoked for t in store.tokens.list()].count(False) == 1


def test_a_token_carries_its_team_and_expiry(store: Store, clock: FakeClock) -> None:
    plaintext, info = store.tokens.create(
        "operator", "sales-ops", team="sales", expires_in=timedelta(days=30)
    )
    assert (info.team, info.expires_at) == ("sales", T0 + timedelta(days=30))
    verified = store.tokens.check(plaintext)
    assert (verified.team, verified.expires_at) == ("sales", T0 + timedelta(days=30))
    assert store.tokens.list()[0].team == "sales"
    clock.advance(30 * 86400 - 1)
    assert store.tokens.verify(plaintext) is not None
    clock.advance(1)
    assert store.tokens.verify(plaintext) is None
    with pytest.raises(AuthError, match=f"token {info.id} expired at 2025-04-13T09:26:53"):
        store.tokens.check(plaintext)


def test_a_team_scope_or_lifetime_that_cannot_be_is_refused(store: Store) -> None:
    for role in ("admin", "dataplane"):
        with pytest.raises(ConfigError, match=f"{role} tokens are platform-wide"):
            store.tokens.create(role, "x", team="sales")
    with pytest.raises(ConfigError, match="not a Team name"):
        store.tokens.create("viewer", "x", team="Sales Team")
    for lifetime in (timedelta(0), timedelta(seconds=-1), timedelta(days=3651)):
        with pytest.raises(ConfigError, match="at most 3650 days"):
            store.tokens.create("viewer", "x", expires_in=lifetime)
    assert store.tokens.list() == []


def test_list_tokens_oldest_first(store: Store, clock: FakeClock) -> None:
    created = []
    for role in ROLES:
        clock.advance(1)
        created.append(store.tokens.create(role, f"{role}-token")[1])
    assert store.tokens.list() == created


def test_last_used_is_written_at_most_once_a_minute(store: Store, clock: FakeClock) -> None:
    plaintext, info = store.tokens.create("viewer", "reader")

    def stored_last_used() -> datetime | None:
        (token,) = [t for t in store.tokens.list() if t.id == info.id]
        return token.last_used_at

    first = store.tokens.verify(plaintext)
    assert first is not None
    assert first.last_used_at == T0
    assert stored_last_used() == T0
    clock.advance(59)
    again = store.tokens.verify(plaintext)
    assert again is not None
    assert again.last_used_at == T0
    assert stored_last_used() == T0
    clock.advance(1)
    later = store.tokens.verify(plaintext)
    assert later is not None
    assert later.last_used_at == T0 + timedelta(seconds=60)
    assert stored_last_used() == T0 + timedelta(seconds=60)


def test_invalid_role_or_name_is_refused(store: Store) -> None:
    bad_role: Any = "root"
    with pytest.raises(ConfigError, match="viewer, operator, admin"):
        store.tokens.create(bad_role, "x")
    for name in ("  ", "", "deploy bot", "ci\nadmin", "x" * 65, "tab\t", "é", "a/b"):
        with pytest.raises(ConfigError, match="1 to 64 letters, digits"):
            store.tokens.create("admin", name)
    assert store.tokens.create("admin", "A-z_0.9" + "x" * 57)[1].name == "A-z_0.9" + "x" * 57
    assert len(store.tokens.list()) == 1


def test_plaintext_is_never_kept(store: Store, store_url: str) -> None:
    plaintext, info = store.tokens.create("admin", "root")
    secret = plaintext.split("_", 2)[2]
    verified = store.tokens.verify(plaintext)
    for shown in (repr(info), str(info), repr(verified), repr(store), repr(store.tokens.list())):
        assert secret not in shown

    rows = raw_query(store_url, "SELECT * FROM admin_tokens")
    assert len(rows) == 1
    assert all(secret not in str(value) for value in rows[0])
    ((stored_hash,),) = raw_query(store_url, "SELECT token_hash FROM admin_tokens")
    assert stored_hash == hashlib.sha256(plaintext.encode()).hexdigest()

    if store_url.startswith("sqlite:///"):
        store.close()
        db = Path(store_url.removeprefix("sqlite:///"))
        for file in db.parent.iterdir():
            assert secret.encode() not in file.read_bytes(), file.name


# --- consumer keys ---------------------------------------------------------------------------


def test_consumer_key_create_list_verify(store: Store, clock: FakeClock) -> None:
    plaintext, info = store.consumer_keys.create("acme-logistics", "ci", None)
    assert plaintext.startswith(f"ik_{info.id}_")
    assert info.consumer == "acme-logistics"
    assert info.created_at == clock.now
    clock.advance(1)
    other, _ = store.consumer_keys.create("mobile-app", "app", clock.now + timedelta(days=1))
    listed = store.consumer_keys.list()
    assert [k.consumer for k in listed] == ["acme-logistics", "mobile-app"]
    assert listed[1].expires_at == clock.now + timedelta(days=1)
    assert [k.id for k in store.consumer_keys.list("mobile-app")] == [listed[1].id]
    ring = KeyRing(store, clock=clock)
    assert ring.refresh() == 2
    verified = ring.verify(plaintext)
    assert verified is not None
    assert verified.consumer == "acme-logistics"
    assert ring.verify(other) is not None


def test_consumer_key_wrong_expired_revoked(store: Store, clock: FakeClock) -> None:
    plaintext, info = store.consumer_keys.create(
        "acme-logistics", "ci", clock.now + timedelta(hours=1)
    )
    ring = KeyRing(store, clock=clock)
    ring.refresh()
    assert ring.verify(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
    assert ring.verify("ik_short") is None
    assert ring.verify(plaintext.replace("ik_", "il_", 1)) is None  # an admin-token shape
    clock.advance(3600)
    assert ring.verify(plaintext) is None  # expired
    clock.advance(-60)
    assert ring.verify(plaintext) is not None
    store.consumer_keys.revoke(info.id)
    assert ring.verify(plaintext) is not None  # until the next refresh
    ring.refresh()
    assert ring.verify(plaintext) is None
    (revoked,) = store.consumer_keys.list()
    assert revoked.revoked
    with pytest.raises(NotFound, match="key 'nope' not found"):
        store.consumer_keys.revoke("nope")


def test_consumer_keys_version_moves_with_every_change(store: Store, store_url: str) -> None:
    start = store.consumer_keys.version()
    _, info = store.consumer_keys.create("acme-logistics", "ci", None)
    created = store.consumer_keys.version()
    assert created != start
    store.consumer_keys.list()
    assert store.consumer_keys.version() == created  # reading changes nothing
    store.consumer_keys.revoke(info.id)
    revoked = store.consumer_keys.version()
    assert revoked not in (start, created)
    # A change made outside the store (by hand, or by another version of Interlink) counts too.
    raw_query(store_url, "DELETE FROM consumer_keys WHERE id = %s", (info.id,))
    assert store.consumer_keys.version() not in (start, created, revoked)


def test_key_ring_reloads_only_when_the_keys_changed(
    store: Store, open_stores: StoreFactory, clock: FakeClock
) -> None:
    first, first_info = store.consumer_keys.create("acme-logistics", "ci", None)
    ring = KeyRing(store, clock=clock)
    assert ring.refresh() == 1
    loaded = ring.loaded_at
    clock.advance(2)
    assert ring.refresh() == 1
    assert ring.loaded_at == loaded  # nothing changed: the keys were not read again
    # Another process (the CLI, another node) adds a key and revokes one: the next refresh
    # of this ring sees both.
    other = open_stores()
    second, _ = other.consumer_keys.create("mobile-app", "app", None)
    assert ring.verify(second) is None
    assert ring.refresh() == 2
    assert ring.loaded_at == clock.now
    verified = ring.verify(second)
    assert verified is not None
    assert verified.consumer == "mobile-app"
    other.consumer_keys.revoke(first_info.id)
    assert ring.verify(first) is not None  # until the next refresh
    clock.advance(2)
    assert ring.refresh() == 2
    assert ring.verify(first) is None
    assert ring.verify(second) is not None
    assert len(ring) == 2


def test_consumer_key_plaintext_is_never_kept(store: Store, store_url: str) -> None:
    plaintext, info = store.consumer_keys.create("acme-logistics", "ci", None)
    secret = plaintext.split("_", 2)[2]
    assert secret not in repr(info)
    assert secret not in repr(store.consumer_keys.list())
    rows = raw_query(store_url, "SELECT * FROM consumer_keys")
    assert all(secret not in str(value) for value in rows[0])
    ((stored,),) = raw_query(store_url, "SELECT key_hash FROM consumer_keys")
    assert stored == hashlib.sha256(plaintext.encode()).hexdigest()


# --- lifecycle -------------------------------------------------------------------------------


def test_reopened_store_sees_the_data(store_url: str, open_stores: StoreFactory) -> None:
    first = open_stores()
    first.migrate()
    revision = first.revisions.record("h1", "alice", "file", {"added": ["System/a"]}, {"a": "1"})
    plaintext, _ = first.tokens.create("admin", "root")
    first.close()

    second = open_stores()
    assert second.migrate() == []
    assert second.revisions.latest() == revision
    assert second.tokens.verify(plaintext) is not None
    assert second.tokens.has_admin()


def test_ping_and_close(store: Store) -> None:
    store.ping()
    store.close()
    store.close()
    with pytest.raises(StoreUnavailable):
        store.ping()


def test_store_url_is_redacted(store: Store, store_url: str) -> None:
    assert store.url == redact_url(store_url)
    assert store_url in repr(store)


# --- opening, without a database -------------------------------------------------------------


def test_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        open_store("mysql://app:hunter2@db:3306/interlink")
    message = caught.value.message
    assert "\n" not in message
    assert "hunter2" not in message
    for scheme in ("sqlite:", "postgresql:", "postgres:"):
        assert scheme in message


def test_malformed_sqlite_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sqlite:///"):
        open_store("sqlite://relative.db")


def test_invalid_schema_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="schema"):
        open_store("postgresql://postgres@127.0.0.1:1/db?schema=drop table")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app:s3cret@db:5432/il", "postgresql://app:***@db:5432/il"),
        ("postgres://app:p%40ss@db/il?schema=x", "postgres://app:***@db/il?schema=x"),
        (
            "postgresql://app@db/il?password=s3cret&sslmode=require",
            "postgresql://app@db/il?password=***&sslmode=require",
        ),
        ("postgresql://app@db:5432/il", "postgresql://app@db:5432/il"),
        ("sqlite:///data/interlink.db", "sqlite:///data/interlink.db"),
        ("sqlite:////abs/interlink.db", "sqlite:////abs/interlink.db"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_default_store_url() -> None:
    assert default_store_url(Path("/srv/estate")) == "sqlite:////srv/estate/.interlink/interlink.db"
    assert default_store_url(Path("estate")) == "sqlite:///estate/.interlink/interlink.db"


def test_role_ranks() -> None:
    allowed = {(have, need) for have in ROLES for need in ROLES if role_allows(have, need)}
    ordered: list[Role] = ["viewer", "operator", "admin"]
    expected = {
        (have, need)
        for have in ordered
        for need in ordered
        if ordered.index(have) >= ordered.index(need)
    }
    # dataplane stands apart: it admits only itself, and no other role admits it.
    assert allowed == expected | {("dataplane", "dataplane")}


def test_unreachable_postgres_fails_fast_on_one_line() -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        open_store("postgresql://app:s3cret@127.0.0.1:1/interlink")
    assert time.monotonic() - started < 3
    message = caught.value.message
    assert message.startswith("cannot reach PostgreSQL at 127.0.0.1:1: ")
    assert "\n" not in message
    assert "s3cret" not in message
    assert caught.value.retryable


def test_sqlite_under_a_file_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    path = blocker / "sub" / "interlink.db"
    with pytest.raises(StoreUnavailable) as caught:
        open_store(f"sqlite:///{path}")
    message = caught.value.message
    assert "\n" not in message
    assert str(path) in message
    assert "not a directory" in message.lower()


def test_sqlite_on_a_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match=str(tmp_path)):
        open_store(f"sqlite:///{tmp_path}")


def test_sqlite_in_memory() -> None:
    with open_store("sqlite:///:memory:") as store:
        assert store.migrate() == ALL_VERSIONS
        store.revisions.record("h", "alice", "file", {}, {})
        assert store.revisions.latest() is not None
