"""The encrypted secret store on both databases: envelope encryption, versions, rows bound to
their name and version, rewrap under a new master key."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from interlink.errors import ConfigError, NotFound
from interlink.store import Store, open_store
from interlink.vault import MasterKey, MasterKeys, SealError, Vault

VALUE = "s3cret-" + os.urandom(6).hex()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        opened.migrate()
        yield opened


def keys(*raw: bytes) -> MasterKeys:
    found = [MasterKey(r) for r in raw]
    return MasterKeys(found[0], tuple(found[1:]))


def test_set_read_rotate_delete(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    vault = Vault(store, keys(os.urandom(32)))
    start = store.secrets.version()
    assert vault.set("crm-token", VALUE, by="ops").version == 1
    assert vault.get("crm-token") == VALUE
    with pytest.raises(ConfigError, match="exists \\(version 1\\): use `interlink secrets rotate"):
        vault.set("crm-token", "other", by="ops")
    assert vault.rotate("crm-token", VALUE + "-2", by="ops").version == 2
    assert vault.get("crm-token") == VALUE + "-2"
    [summary] = vault.list()
    assert (summary.name, summary.version, summary.versions) == ("crm-token", 2, 2)
    with pytest.raises(NotFound):
        vault.rotate("missing", "x", by="ops")
    vault.delete("crm-token", by="ops")
    assert vault.get("crm-token") is None
    assert vault.list() == []
    with pytest.raises(NotFound):
        vault.delete("crm-token", by="ops")
    assert store.secrets.version() > start
    assert VALUE not in caplog.text
    assert "secret rotate: crm-token version 2 by ops" in caplog.text


def test_the_store_holds_ciphertext_only(store: Store) -> None:
    vault = Vault(store, keys(os.urandom(32)))
    vault.set("a", VALUE, by="ops")
    row = store.secrets.current("a")
    assert row is not None
    assert VALUE.encode() not in row.ciphertext + row.wrapped_key
    assert row.key_id == vault.keys.primary.id
    assert VALUE not in repr(row)
    vault.rotate("a", VALUE, by="ops")  # the same value twice: a fresh data key and nonce
    again = store.secrets.current("a")
    assert again is not None
    assert again.ciphertext != row.ciphertext


def test_rows_swapped_between_names_or_versions_do_not_open(store: Store) -> None:
    vault = Vault(store, keys(os.urandom(32)))
    vault.set("a", "value-a", by="ops")
    vault.set("b", "value-b", by="ops")
    with store.db.transaction() as session:  # b's sealed value and key copied over a's
        session.execute(
            "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE name = 'b'), "
            "wrapped_key = (SELECT wrapped_key FROM secrets WHERE name = 'b') WHERE name = 'a'"
        )
    with pytest.raises(SealError, match="'a' version 1"):
        vault.get("a")
    vault.rotate("b", "value-b2", by="ops")
    with store.db.transaction() as session:  # an old version passed off as the current one
        session.execute(
            "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets "
            "WHERE name = 'b' AND version = 1) WHERE name = 'b' AND version = 2"
        )
    with pytest.raises(SealError, match="'b' version 2"):
        vault.get("b")


def test_a_row_under_an_unknown_master_key_names_the_key_id(store: Store) -> None:
    first = keys(os.urandom(32))
    Vault(store, first).set("a", VALUE, by="ops")
    with pytest.raises(ConfigError, match=f"master key {first.primary.id}, which is not"):
        Vault(store, keys(os.urandom(32))).get("a")


def test_rewrap_moves_every_data_key_and_the_old_key_can_go(store: Store) -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = Vault(store, keys(old))
    for index in range(7):
        before.set(f"s{index}", f"v{index}", by="ops")
    before.rotate("s0", "v0-2", by="ops")
    version = store.secrets.version()
    during = Vault(store, keys(new, old))  # new primary, old previous: both open
    assert during.get("s3") == "v3"
    seen: list[tuple[int, int]] = []
    result = during.rewrap(by="ops", batch=3, progress=lambda done, left: seen.append((done, left)))
    assert (result.rewrapped, result.remaining) == (8, 0)
    assert seen[-1] == (8, 0)
    assert len(seen) == 3
    assert store.secrets.count_by_key() == {MasterKey(new).id: 8}
    assert store.secrets.version() == version  # no value changed: nodes need not re-resolve
    after = Vault(store, keys(new))  # the old key removed
    assert [after.get(f"s{i}") for i in range(7)] == ["v0-2", *(f"v{i}" for i in range(1, 7))]
    assert after.rewrap(by="ops").rewrapped == 0  # again: nothing left to do


def test_rewrap_leaves_rows_no_configured_key_opens_and_says_which(store: Store) -> None:
    lost, kept = os.urandom(32), os.urandom(32)
    Vault(store, keys(lost)).set("orphan", VALUE, by="ops")
    Vault(store, keys(kept)).set("fine", VALUE, by="ops")
    result = Vault(store, keys(os.urandom(32), kept)).rewrap(by="ops", batch=1)
    assert (result.rewrapped, result.unreadable) == (1, ("orphan v1",))
