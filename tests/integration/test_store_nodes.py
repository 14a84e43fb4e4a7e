"""The store's part in running several nodes: revision content, the current revision, the
nodes table and, on PostgreSQL, the notification a recorded revision sends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from interlink.store import Store, open_store
from tests.integration.test_store import T0, FakeClock

HASH_A, HASH_B = "a" * 64, "b" * 64


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    with open_store(store_url, clock=clock) as opened:
        opened.migrate()
        yield opened


def record(store: Store, hash: str, bundle: bytes | None = None) -> int:
    return store.revisions.record(hash, "me", "test", {}, {}, bundle).id


def test_content_is_kept_once_per_hash_and_the_head_is_the_newest(store: Store) -> None:
    assert store.revisions.head() is None
    first = record(store, HASH_A, b"bundle-a")
    record(store, HASH_B, b"bundle-b")
    again = record(store, HASH_A, b"ignored: the content of a hash never changes")
    assert store.revisions.head() == (again, HASH_A)
    assert store.revisions.bundle(HASH_A) == b"bundle-a"
    assert store.revisions.bundle("c" * 64) is None
    assert store.revisions.has_bundle(HASH_B)
    assert not store.revisions.has_bundle("c" * 64)
    found = store.revisions.find_hash(HASH_A)
    assert found is not None
    assert found.id == again != first
    assert store.revisions.find_hash("c" * 64) is None


def test_a_revision_may_be_recorded_without_content(store: Store) -> None:
    record(store, HASH_A)
    assert store.revisions.bundle(HASH_A) is None


def test_nodes_report_what_they_run_and_go_down_when_silent(store: Store, clock: FakeClock) -> None:
    def beat(id: str, revision: tuple[int, str] | None, health: dict[str, str]) -> None:
        store.nodes.beat(
            id,
            admin_address="10.0.0.1:8081",
            gateway_address="10.0.0.1:8080",
            revision=revision,
            started_at=T0,
            health=health,
        )

    beat("a", (1, HASH_A), {"store": "ok"})
    clock.advance(1)
    beat("b", None, {"store": "ok", "bus": "down"})
    clock.advance(1)
    beat("a", (2, HASH_B), {"store": "ok"})
    a, b = store.nodes.list()
    assert (a.id, a.revision_id, a.revision_hash, a.started_at) == ("a", 2, HASH_B, T0)
    assert a.heartbeat_at == T0 + timedelta(seconds=2)
    assert (b.id, b.revision_id, b.health) == ("b", None, {"store": "ok", "bus": "down"})
    now = store.db.now()
    assert a.live(now, timedelta(seconds=1))
    assert not b.live(now, timedelta(seconds=0.5))
    clock.advance(3600)
    beat("a", (2, HASH_B), {"store": "ok"})
    assert store.nodes.prune(timedelta(minutes=30)) == 1
    assert [n.id for n in store.nodes.list()] == ["a"]


def test_sqlite_has_no_listener(tmp_path: object) -> None:
    with open_store(f"sqlite:///{tmp_path}/s.db") as store:
        assert store.db.listener("interlink_revisions") is None


@pytest.mark.postgres
def test_recording_a_revision_notifies_listeners_on_the_same_schema_only(
    pg_url: str, postgres_server_url: str
) -> None:
    with open_store(pg_url) as store:
        store.migrate()
        listener = store.db.listener("interlink_revisions")
        assert listener is not None
        other_schema = f"il_test_{uuid.uuid4().hex[:12]}"
        try:
            with open_store(f"{postgres_server_url}?schema={other_schema}") as other:
                other.migrate()
                record(other, HASH_B)
            assert listener.wait(0.2) is False
            record(store, HASH_A)
            assert listener.wait(10) is True
            assert listener.wait(0.05) is False
        finally:
            listener.close()
            with psycopg.connect(postgres_server_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(other_schema)))
