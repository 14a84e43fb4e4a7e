"""`interlink secrets`: values in through stdin or a file only, never out; one-line errors;
and a rewrap killed mid-way (kill -9) leaves every secret readable."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest

from interlink.gateway.auth.platform_keys import PlatformKeyRing, generate
from interlink.store import open_store
from interlink.testing.processes import InterlinkProcess, run_interlink
from interlink.vault import MasterKey, MasterKeys, Vault
from interlink.vault.platform_keys import add_key

VALUE = "cli-secret-" + os.urandom(6).hex()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture
def env(store_url: str) -> dict[str, str]:
    return {"INTERLINK_STORE_URL": store_url, "INTERLINK_MASTER_KEY": b64(os.urandom(32))}


def secrets(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    done = run_interlink(["secrets", *args], env=env, input=stdin if stdin is not None else "")
    return done.returncode, done.stdout, done.stderr


def test_set_rotate_list_delete(env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = secrets(env, "set", "crm-token", stdin=VALUE + "\n")
    assert (code, out) == (0, "secret crm-token set (version 1)\n"), err
    (tmp_path / "value").write_text(VALUE + "-2\n", encoding="utf-8")
    code, out, _ = secrets(env, "rotate", "crm-token", "--from-file", str(tmp_path / "value"))
    assert (code, out) == (0, "secret crm-token rotated (version 2)\n")
    code, out, _ = secrets(env, "list")
    assert code == 0
    assert re.fullmatch(r"crm-token +version 2 +updated \S+\n", out)
    with open_store(env["INTERLINK_STORE_URL"]) as store:
        keys = MasterKeys(MasterKey(base64.b64decode(env["INTERLINK_MASTER_KEY"])))
        assert Vault(store, keys).get("crm-token") == VALUE + "-2"  # the newline dropped
    code, out, _ = secrets(env, "delete", "crm-token")
    assert (code, out) == (0, "secret crm-token deleted\n")
    assert secrets(env, "list")[1] == ""
    assert secrets(env, "rotate", "crm-token", stdin="x")[0] != 0
    with open_store(env["INTERLINK_STORE_URL"]) as store:
        found = [(e.action, e.target, e.result, e.details) for e in store.audit.entries()]
        text = repr(list(store.audit.entries()))
    assert found == [
        ("secret.set", "secret/crm-token", "ok", {"version": 1}),
        ("secret.rotate", "secret/crm-token", "ok", {"version": 2}),
        ("secret.delete", "secret/crm-token", "ok", {}),
        ("secret.rotate", "secret/crm-token", "failed", {}),
    ]
    assert VALUE not in text


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("set", "x"), "v", "no master key configured: set INTERLINK_MASTER_KEY"),
        (("set", "bad name"), "v", "secret name 'bad name' is not valid"),
        (("set", "x"), "", "the secret value is empty"),
        (("rotate", "nope"), "v", "no secret 'nope' in the store"),
        (("delete", "nope"), "", "no secret 'nope' in the store"),
        (("set", "x", "--from-file", "/nonexistent"), "", "--from-file /nonexistent: cannot"),
    ],
)
def test_errors_are_one_line(
    env: dict[str, str], args: tuple[str, ...], stdin: str, message: str
) -> None:
    if "master key" in message:
        env = {**env, "INTERLINK_MASTER_KEY": ""}
    code, out, err = secrets(env, *args, stdin=stdin)
    assert code == 2
    assert out == ""
    assert err.startswith("interlink: error: "), err
    assert message in err, err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_a_value_is_never_an_argument_nor_printed(env: dict[str, str]) -> None:
    code, _, err = secrets(env, "set", "x", VALUE, stdin="v")
    assert code == 2
    assert "unexpected extra argument" in err.lower()
    code, out, err = secrets(env, "set", "x", stdin=VALUE)
    assert code == 0
    assert VALUE not in out + err
    assert VALUE not in secrets(env, "list")[1]


def test_a_rewrap_killed_mid_way_leaves_every_secret_readable(
    env: dict[str, str], tmp_path: Path
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    count = 120
    with open_store(env["INTERLINK_STORE_URL"]) as store:
        store.migrate()
        vault = Vault(store, MasterKeys(MasterKey(old)))
        for index in range(count):
            vault.set(f"s{index:03}", f"value-{index}", by="test")
    # The rotation: the new key primary, the old one previous, then rewrap.
    rotation = {**env, "INTERLINK_MASTER_KEY": b64(new), "INTERLINK_MASTER_KEY_PREVIOUS": b64(old)}
    rewrap = InterlinkProcess(
        ["secrets", "rewrap", "--batch-size", "4", "--pause", "0.2"], env=rotation
    ).start()
    try:
        rewrap.wait_for(r"rewrapped 12, ")  # three batches in, many to go
    finally:
        rewrap.kill()
    both = MasterKeys(MasterKey(new), (MasterKey(old),))
    with open_store(env["INTERLINK_STORE_URL"]) as store:
        by_key = store.secrets.count_by_key()
        assert by_key[MasterKey(new).id] >= 12, by_key  # mid-way: some rows under each key
        assert by_key[MasterKey(old).id] > 0, by_key
        during = Vault(store, both)
        assert [during.get(f"s{i:03}") for i in range(count)] == [
            f"value-{i}" for i in range(count)
        ]
    code, out, err = secrets(rotation, "rewrap")  # run again: it goes on where it stopped
    assert code == 0, err
    assert re.match(r"rewrapped \d+ secret version\(s\) under master key " + MasterKey(new).id, out)
    with open_store(env["INTERLINK_STORE_URL"]) as store:
        assert store.secrets.count_by_key() == {MasterKey(new).id: count}
        after = Vault(store, MasterKeys(MasterKey(new)))  # the old key removed
        assert [after.get(f"s{i:03}") for i in range(count)] == [f"value-{i}" for i in range(count)]


def test_a_rewrap_killed_mid_way_leaves_every_platform_key_readable(
    env: dict[str, str], tmp_path: Path
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    count = 40
    with open_store(env["INTERLINK_STORE_URL"]) as store:
        store.migrate()
        Vault(store, MasterKeys(MasterKey(old))).set("s", "v", by="test")
        for index in range(count):
            _, pem = generate("ES256")
            add_key(store, MasterKeys(MasterKey(old)), f"k{index:03}", "ES256", pem)
        before = PlatformKeyRing(store, MasterKeys(MasterKey(old)))
        before.refresh()
    rotation = {**env, "INTERLINK_MASTER_KEY": b64(new), "INTERLINK_MASTER_KEY_PREVIOUS": b64(old)}
    rewrap = InterlinkProcess(
        ["secrets", "rewrap", "--batch-size", "4", "--pause", "0.2"], env=rotation
    ).start()
    try:
        rewrap.wait_for(r"rewrapped 13, ")  # the secret, then three batches of keys
    finally:
        rewrap.kill()
    both = MasterKeys(MasterKey(new), (MasterKey(old),))
    with open_store(env["INTERLINK_STORE_URL"]) as store:
        by_key = store.platform_keys.count_by_key()
        assert by_key[MasterKey(new).id] >= 12, by_key  # mid-way: some keys under each
        assert by_key[MasterKey(old).id] > 0, by_key
        during = PlatformKeyRing(store, both)
        during.refresh()
        assert during.document == before.document  # every key opens, the same keys
    code, out, err = secrets(rotation, "rewrap")  # run again: it goes on where it stopped
    assert code == 0, err
    assert f"platform signing key(s) under master key {MasterKey(new).id}" in out
    with open_store(env["INTERLINK_STORE_URL"]) as store:
        assert store.platform_keys.count_by_key() == {MasterKey(new).id: count}
        after = PlatformKeyRing(store, MasterKeys(MasterKey(new)))  # the old key removed
        after.refresh()
        assert after.document == before.document


def test_rewrap_to_a_key_file(env: dict[str, str], tmp_path: Path) -> None:
    assert secrets(env, "set", "a", stdin="v")[0] == 0
    new = os.urandom(32)
    (tmp_path / "new.key").write_text(b64(new) + "\n", encoding="utf-8")
    code, out, _ = secrets(env, "rewrap", "--new-key", str(tmp_path / "new.key"))
    assert code == 0
    assert MasterKey(new).id in out
    code, _, err = secrets(env, "rewrap", "--new-key", str(tmp_path / "missing.key"))
    assert code == 2
    assert "--new-key" in err
    assert "missing.key" in err
