"""The platform's token signing keys sealed under the master key, on SQLite and PostgreSQL: new
keys sealed, plain keys from before migration 0038 still read and sealed by the rotation or a
rewrap, and no key material in a log line or a ``repr``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import replace

import pytest

from interlink.errors import ConfigError
from interlink.gateway.auth.platform_keys import PlatformKeyRing, generate, rotate
from interlink.store import Resealed, Store, open_store
from interlink.store import database as database_module
from interlink.store.migrations import load_migrations
from interlink.vault import MasterKey, MasterKeys, SealError, Vault
from interlink.vault.platform_keys import add_key, open_private_key


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        opened.migrate()
        yield opened


def keys(*raw: bytes) -> MasterKeys:
    found = [MasterKey(r) for r in raw]
    return MasterKeys(found[0], tuple(found[1:]))


def add_plain(store: Store, kid: str) -> str:
    """A key as written before migration 0038: its PEM in plain."""
    _, pem = generate("ES256")
    db = store.db
    with db.transaction() as session:
        session.execute(
            "INSERT INTO platform_keys (kid, alg, private_pem, created_at) VALUES (?, ?, ?, ?)",
            (kid, "ES256", pem, db.ts(db.now())),
        )
    return pem


def public_keys(ring: PlatformKeyRing) -> dict[str, object]:
    return {kid: jwk.key.public_numbers() for kid, jwk in ring.by_kid.items()}


def test_a_new_key_is_sealed_and_never_shown(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    master = keys(os.urandom(32))
    kid = rotate(store, master, "ES256", 86400, 600)
    assert kid is not None
    [row] = store.platform_keys.list()
    assert (row.key_id, row.private_pem) == (master.primary.id, None)
    assert row.ciphertext is not None
    assert row.wrapped_key is not None
    assert b"PRIVATE KEY" not in row.ciphertext + row.wrapped_key
    pem = open_private_key(master, row)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    ring = PlatformKeyRing(store, master)
    ring.refresh()
    assert ring.signing is not None
    assert ring.signing.kid == kid
    body = pem.splitlines()[1]
    for shown in (repr(row), repr(ring.signing), repr(ring.by_kid), caplog.text):
        assert "PRIVATE KEY" not in shown
        assert body not in shown


def test_a_sealed_key_does_not_open_without_its_master_key_or_moved(store: Store) -> None:
    master = keys(os.urandom(32))
    first = rotate(store, master, "ES256", 86400, 600)
    second = rotate(store, master, "ES256", 0, 600)
    newest, older = store.platform_keys.list()
    assert (newest.kid, older.kid) == (second, first)
    with pytest.raises(
        ConfigError, match=f"platform signing key {second} is sealed.*set INTERLINK_MASTER_KEY"
    ):
        PlatformKeyRing(store, None).refresh()
    other = keys(os.urandom(32))
    with pytest.raises(ConfigError, match=f"wrapped under master key {master.primary.id}"):
        open_private_key(other, newest)
    # One key's sealed material under another kid does not open: the seal binds the kid.
    moved = replace(older, ciphertext=newest.ciphertext, wrapped_key=newest.wrapped_key)
    with pytest.raises(SealError, match=f"secret 'platform-key:{first}'"):
        open_private_key(master, moved)


def test_a_plain_key_from_before_0038_is_read_then_sealed_by_the_rotation(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = load_migrations
    with open_store(store_url) as old:  # the store as it was before the keys were sealed
        monkeypatch.setattr(
            database_module,
            "load_migrations",
            lambda dialect: [m for m in load(dialect) if m.version < "0038"],
        )
        old.migrate()
        add_plain(old, "legacy")
    monkeypatch.setattr(database_module, "load_migrations", load)
    with open_store(store_url) as store:
        assert "0038" in store.migrate()
        [row] = store.platform_keys.list()
        assert (row.kid, row.key_id) == ("legacy", None)
        plain = PlatformKeyRing(store, None)  # read both: a plain key opens with no master key
        plain.refresh()
        assert plain.signing is not None
        assert plain.signing.kid == "legacy"
        master = keys(os.urandom(32))
        assert rotate(store, master, "ES256", 86400, 600) is None  # not due: only sealed
        [sealed] = store.platform_keys.list()
        assert (sealed.key_id, sealed.private_pem) == (master.primary.id, None)
        ring = PlatformKeyRing(store, master)
        ring.refresh()
        assert public_keys(ring) == public_keys(plain)  # the same key, now sealed


def test_rewrap_moves_and_seals_the_platform_keys(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    old, new, lost = os.urandom(32), os.urandom(32), os.urandom(32)
    for index in range(5):
        kid, pem = generate("ES256")
        add_key(store, keys(old), f"k{index}-{kid}", "ES256", pem)
    add_plain(store, "plain")
    _, pem = generate("ES256")
    add_key(store, keys(lost), "orphan", "ES256", pem)
    Vault(store, keys(old)).set("s", "v", by="ops")
    before = PlatformKeyRing(store, keys(old, lost))
    before.refresh()
    seen: list[tuple[int, int]] = []
    result = Vault(store, keys(new, old)).rewrap(
        by="ops", batch=2, progress=lambda done, left: seen.append((done, left))
    )
    assert (result.rewrapped, result.platform_keys) == (1, 6)
    assert result.unreadable == ("platform key orphan",)
    assert seen[-1] == (7, 1)  # the orphan is left under its own key
    assert store.platform_keys.count_by_key() == {MasterKey(new).id: 6, MasterKey(lost).id: 1}
    store.platform_keys.delete("orphan")
    after = PlatformKeyRing(store, keys(new))  # the old key removed
    after.refresh()
    assert public_keys(after) == {k: v for k, v in public_keys(before).items() if k != "orphan"}
    assert Vault(store, keys(new)).rewrap(by="ops").platform_keys == 0  # nothing left to do
    assert f"platform signing key orphan is wrapped under master key {MasterKey(lost).id}" in (
        caplog.text
    )
    assert "PRIVATE KEY" not in caplog.text


def test_reseal_leaves_a_row_changed_since_it_was_read(store: Store) -> None:
    master = keys(os.urandom(32))
    add_plain(store, "plain")
    [row] = store.platform_keys.list()
    rotate(store, master, "ES256", 86400, 600)  # seals it meanwhile
    stale = Resealed(row, b"x", b"y", "other")
    assert store.platform_keys.reseal([stale]) == 0
    [now] = [k for k in store.platform_keys.list() if k.kid == "plain"]
    assert now.key_id == master.primary.id
