"""The audit log on each store backend: the chain, tampering found by verify, concurrent
appends from several processes, and no secret kept."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import timedelta

import pytest

from interlink.errors import ConfigError
from interlink.store import Actor, AuditFilter, Store, TokenInfo, open_store
from interlink.store.audit import GENESIS, entry_hash
from interlink.testing.clock import FakeClock

ALICE = Actor("alice", "10.0.0.7", "abcd1234", "admin")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url, clock=FakeClock()) as opened:
        opened.migrate()
        yield opened


def fill(store: Store, count: int = 5) -> None:
    for n in range(count):
        store.audit.append(ALICE, "dlq.retry", f"subscription/s{n}", {"retried": n})


def test_entries_chain_from_the_genesis_hash(store: Store) -> None:
    assert store.audit.verify().ok
    first = store.audit.append(ALICE, "token.create", "token/x1", {"role": "viewer"})
    second = store.audit.append(
        Actor.local(), "token.revoke", "token/x1", result="failed", reason="token not found"
    )
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert second.who_name == "cli-local"
    assert "@" in second.address
    listed = store.audit.list()
    assert [e.hash for e in listed] == [first.hash, second.hash]
    assert listed[0] == first  # read back exactly as appended: the hash covers the same bytes
    again = entry_hash(
        1,
        listed[0].at,
        ("abcd1234", "alice", "admin"),
        "10.0.0.7",
        "token.create",
        "token/x1",
        '{"role":"viewer"}',
        ("ok", None),
        GENESIS,
    )
    assert again == first.hash
    verdict = store.audit.verify()
    assert (verdict.ok, verdict.checked, verdict.head_seq) == (True, 2, 2)
    assert verdict.head_hash == second.hash


def test_filters_and_pages(store: Store) -> None:
    fill(store, 3)
    store.audit.append(Actor.local(), "alert.silence", "monitor/m")
    assert [e.seq for e in store.audit.list(AuditFilter(action="alert.silence"))] == [4]
    assert len(store.audit.list(AuditFilter(who="abcd1234"))) == 3
    assert len(store.audit.list(AuditFilter(who="cli-local"))) == 1
    assert [e.seq for e in store.audit.list(AuditFilter(after_seq=2), limit=1)] == [3]
    later = store.db.now() + timedelta(seconds=1)
    assert store.audit.list(AuditFilter(since=later)) == []
    assert [e.seq for e in store.audit.entries(page=2)] == [1, 2, 3, 4]
    with pytest.raises(ConfigError, match="unknown audit action"):
        store.audit.append(ALICE, "token.eat", "x")  # type: ignore[arg-type]


def test_no_secret_or_token_is_kept(store: Store) -> None:
    token, _ = store.tokens.create("admin", "ops")
    key, _ = store.consumer_keys.create("shop", "web")
    entry = store.audit.append(
        ALICE,
        "secret.set",
        f"secret/crm-password {token}",
        {
            "value": "hunter2",
            "password": "p4ss",
            "note": f"pasted {token} and {key}",
            "n": 3,
            "at": store.db.now(),
        },
        result="failed",
        reason=f"bad token {token}",
    )
    assert entry.details == {
        "value": "***",
        "password": "***",
        "note": "pasted *** and ***",
        "n": 3,
        "at": str(store.db.now()),
    }
    assert entry.reason == "bad token ***"
    assert entry.target == "secret/crm-password ***"
    with store.db.session() as session:
        rows = session.fetchall("SELECT * FROM audit_log")
    text = repr(rows)
    for secret in (token, key, "hunter2", "p4ss"):
        assert secret not in text
    assert store.audit.verify().ok


def test_an_edited_entry_is_found(store: Store) -> None:
    fill(store)
    with store.db.transaction() as session:
        session.execute("UPDATE audit_log SET target = 'subscription/other' WHERE seq = 3")
    verdict = store.audit.verify()
    assert not verdict.ok
    assert verdict.broken_at == 3
    assert verdict.problem == "entry 3 does not match its hash: it was edited"


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(store: Store) -> None:
    fill(store)
    [third] = store.audit.list(AuditFilter(after_seq=2), limit=1)
    forged = entry_hash(
        3,
        third.at,
        (third.who_id, "mallory", third.who_role),
        third.address,
        third.action,
        third.target,
        '{"retried":2}',
        ("ok", None),
        third.prev_hash,
    )
    with store.db.transaction() as session:
        session.execute(
            "UPDATE audit_log SET who_name = 'mallory', hash = ? WHERE seq = 3", (forged,)
        )
    verdict = store.audit.verify()
    assert verdict.broken_at == 4
    assert "entry 4 does not follow entry 3" in str(verdict.problem)


def test_a_deleted_entry_is_found(store: Store) -> None:
    fill(store)
    with store.db.transaction() as session:
        session.execute("DELETE FROM audit_log WHERE seq = 2")
    verdict = store.audit.verify()
    assert verdict.broken_at == 2
    assert verdict.problem == "entry 2 is missing before entry 3: deleted"


def test_a_deleted_last_entry_is_found_by_the_head(store: Store) -> None:
    fill(store)
    with store.db.transaction() as session:
        session.execute("DELETE FROM audit_log WHERE seq >= 4")
    verdict = store.audit.verify()
    assert verdict.broken_at == 4
    assert verdict.problem == "entry 4 to 5 is missing at the end of the chain: deleted"


def test_reordered_and_inserted_entries_are_found(store: Store) -> None:
    fill(store)
    with store.db.transaction() as session:  # swap entries 2 and 3
        session.execute("UPDATE audit_log SET seq = 100 WHERE seq = 2")
        session.execute("UPDATE audit_log SET seq = 2 WHERE seq = 3")
        session.execute("UPDATE audit_log SET seq = 3 WHERE seq = 100")
    verdict = store.audit.verify()
    assert verdict.broken_at == 2
    assert verdict.problem == "entry 2 does not match its hash: it was edited"


def test_an_entry_inserted_in_a_gap_is_found(store: Store) -> None:
    fill(store)
    with store.db.transaction() as session:  # entry 5 moved up to make room for a forged 5
        session.execute("UPDATE audit_log SET seq = 6 WHERE seq = 5")
        session.execute("UPDATE audit_head SET seq = 6")
        session.execute(
            "INSERT INTO audit_log SELECT 5, at, who_id, 'mallory', who_role, address, action, "
            "target, details, result, reason, prev_hash, hash FROM audit_log WHERE seq = 4"
        )
    verdict = store.audit.verify()
    assert verdict.broken_at == 5
    assert not verdict.ok


def test_an_entry_added_outside_the_log_is_found(store: Store) -> None:
    fill(store, 2)
    with store.db.transaction() as session:
        session.execute(
            "INSERT INTO audit_log SELECT 3, at, who_id, who_name, who_role, address, action, "
            "target, details, result, reason, hash, hash FROM audit_log WHERE seq = 2"
        )
    verdict = store.audit.verify()
    assert verdict.broken_at == 3
    assert not verdict.ok


def _append_many(url: str, name: str, count: int) -> None:
    with open_store(url) as store:
        for n in range(count):
            store.audit.append(Actor(name, "127.0.0.1"), "flow.run", f"flow/f{n}")


def test_appends_from_several_processes_keep_one_chain(store: Store, store_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_append_many, args=(store_url, f"node-{n}", 25)) for n in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    verdict = store.audit.verify()
    assert (verdict.ok, verdict.checked) == (True, 50)
    names = [e.who_name for e in store.audit.entries()]
    assert names.count("node-0") == names.count("node-1") == 25


def test_actor_of_a_token_names_it_never_its_secret() -> None:
    info = TokenInfo("abcd1234", "ci", "operator", FakeClock().now(), None, False)
    assert Actor.of_token(info, "10.1.2.3") == Actor("ci", "10.1.2.3", "abcd1234", "operator")
