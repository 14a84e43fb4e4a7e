"""Where the master keys come from, and what a bad one says (never the key itself)."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from interlink.errors import ConfigError
from interlink.vault.master_keys import (
    NO_KEY,
    PROVIDER_GROUP,
    MasterKey,
    from_provider,
    load_master_keys,
    require_master_keys,
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_no_key_is_none_and_required_says_how_to_set_one() -> None:
    assert load_master_keys({}) is None
    with pytest.raises(ConfigError, match="no master key configured"):
        require_master_keys({})


def test_the_primary_and_previous_keys_from_the_environment() -> None:
    new, old = os.urandom(32), os.urandom(32)
    previous = f"{b64(old)},{b64(new)}"
    keys = load_master_keys(
        {"INTERLINK_MASTER_KEY": b64(new), "INTERLINK_MASTER_KEY_PREVIOUS": previous}
    )
    assert keys is not None
    assert keys.primary.key == new
    assert [k.key for k in keys.previous] == [old]  # the primary listed again counts once
    assert keys.find(MasterKey(old).id) == keys.previous[0]
    assert keys.find("0" * 16) is None


def test_the_primary_key_from_a_file(tmp_path: Path) -> None:
    raw = os.urandom(32)
    (tmp_path / "key").write_text(f"# the master key\n{b64(raw)}\n", encoding="utf-8")
    keys = load_master_keys({"INTERLINK_MASTER_KEY_FILE": str(tmp_path / "key")})
    assert keys is not None
    assert keys.primary.key == raw


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INTERLINK_MASTER_KEY": "not base64!"}, "INTERLINK_MASTER_KEY is not base64"),
        ({"INTERLINK_MASTER_KEY": b64(b"short")}, "base64 of 32 bytes, not 5"),
        ({"INTERLINK_MASTER_KEY": b64(b"k" * 32), "INTERLINK_MASTER_KEY_FILE": "/k"}, "not both"),
        ({"INTERLINK_MASTER_KEY_PREVIOUS": b64(b"k" * 32)}, "without a primary one"),
        ({"INTERLINK_MASTER_KEY_FILE": "/nonexistent/key"}, "INTERLINK_MASTER_KEY_FILE /nonex"),
    ],
)
def test_a_bad_key_is_one_clear_error_without_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_master_keys(env)
    assert "k" * 32 not in str(caught.value)
    assert b64(b"k" * 32) not in str(caught.value)


def test_the_id_is_a_fingerprint_not_the_key() -> None:
    raw = os.urandom(32)
    key = MasterKey(raw)
    assert key.id == MasterKey(raw).id != MasterKey(os.urandom(32)).id
    assert len(key.id) == 16
    assert key.id not in (raw.hex(), b64(raw))
    assert raw.hex() not in repr(key)
    assert b64(raw) not in repr(key)


class _Provider:
    keys: Sequence[bytes] = ()

    def master_keys(self) -> Sequence[bytes]:
        return self.keys


def test_a_key_provider_plugin_gives_the_keys() -> None:
    new, old = os.urandom(32), os.urandom(32)
    _Provider.keys = (new, old)
    entry = EntryPoint("kms", f"{__name__}:_Provider", PROVIDER_GROUP)
    keys = from_provider("kms", [entry])
    assert keys.primary.key == new
    assert [k.key for k in keys.previous] == [old]
    with pytest.raises(ConfigError, match=r"'vault' is not a key provider \(kms\)"):
        from_provider("vault", [entry])
    _Provider.keys = (b"short",)
    with pytest.raises(ConfigError, match="key 0 is not 32 bytes"):
        from_provider("kms", [entry])
    _Provider.keys = ()
    with pytest.raises(ConfigError, match="gave no master key"):
        from_provider("kms", [entry])


def test_an_unknown_provider_named_in_the_environment() -> None:
    with pytest.raises(ConfigError, match="is not a key provider"):
        load_master_keys({"INTERLINK_KEY_PROVIDER": "nowhere-to-be-found"})
    assert "INTERLINK_KEY_PROVIDER" in NO_KEY
