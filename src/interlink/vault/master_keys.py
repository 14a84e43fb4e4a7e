"""The master keys that wrap the secret store's data keys: where they come from, and their ids.

One key is primary (new data keys are wrapped under it); previous keys are still accepted for
opening, which is what lets a master key be rotated while every node keeps reading. A key is 32
random bytes, given in base64 by, in this order of precedence:

- a key provider plugin named by ``INTERLINK_KEY_PROVIDER``: an entry point in the group
  ``interlink.key_providers`` whose object, called with no argument, returns a
  :class:`KeyProvider` (a KMS, an HSM, a vault agent);
- ``INTERLINK_MASTER_KEY`` or ``INTERLINK_MASTER_KEY_FILE`` (the primary), with
  ``INTERLINK_MASTER_KEY_PREVIOUS`` (comma-separated) or ``INTERLINK_MASTER_KEY_PREVIOUS_FILE``
  (one key a line) for the previous ones.

A key's id is a fingerprint (an HMAC of a fixed label under the key): stored beside each wrapped
data key, it says which key opens it without revealing anything about the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from interlink.errors import ConfigError

KEY_SIZE: Final = 32
PROVIDER_GROUP: Final = "interlink.key_providers"
NO_KEY: Final = (
    "no master key configured: set INTERLINK_MASTER_KEY (base64 of 32 random bytes, e.g. "
    "`openssl rand -base64 32`), INTERLINK_MASTER_KEY_FILE or INTERLINK_KEY_PROVIDER"
)


@runtime_checkable
class KeyProvider(Protocol):
    """What a key provider plugin returns: the master keys, primary first."""

    def master_keys(self) -> Sequence[bytes]:
        """The raw 32-byte keys: the first wraps new data keys, the others still open them."""
        ...


@dataclass(frozen=True)
class MasterKey:
    key: bytes = field(repr=False)
    id: str = ""

    def __post_init__(self) -> None:
        if len(self.key) != KEY_SIZE:
            raise ConfigError(f"a master key must be {KEY_SIZE} bytes, not {len(self.key)}")
        if not self.id:
            object.__setattr__(self, "id", key_id(self.key))


def key_id(key: bytes) -> str:
    """The fingerprint stored beside what ``key`` wraps."""
    return hmac.new(key, b"interlink master key id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class MasterKeys:
    primary: MasterKey
    previous: tuple[MasterKey, ...] = ()

    def find(self, id: str) -> MasterKey | None:
        """The configured key with this id, or None."""
        return next((k for k in (self.primary, *self.previous) if k.id == id), None)

    @property
    def ids(self) -> list[str]:
        return [k.id for k in (self.primary, *self.previous)]


def decode_key(text: str, where: str) -> MasterKey:
    """A key from its base64 text; the error names ``where`` it came from, never the text."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where} is not base64 (give 32 random bytes in base64)") from None
    if len(raw) != KEY_SIZE:
        raise ConfigError(f"{where} must be the base64 of {KEY_SIZE} bytes, not {len(raw)}")
    return MasterKey(raw)


def read_key_file(path: Path, where: str) -> list[MasterKey]:
    """The keys in a file, one base64 key a line (blank lines and ``#`` comments skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where} {path}: {exc.strerror or exc}") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise ConfigError(f"{where} {path} holds no key")
    return [decode_key(line, f"{where} {path}") for line in lines]


def load_master_keys(environ: Mapping[str, str] | None = None) -> MasterKeys | None:
    """The configured master keys, or None when none is; raises ``ConfigError`` for a key
    that is set but unusable."""
    env = os.environ if environ is None else environ
    provider = env.get("INTERLINK_KEY_PROVIDER")
    if provider:
        return from_provider(provider)
    primary = _primary(env)
    if primary is None:
        if any(env.get(f"INTERLINK_MASTER_KEY_PREVIOUS{s}") for s in ("", "_FILE")):
            raise ConfigError("a previous master key is set without a primary one: " + NO_KEY)
        return None
    previous: list[MasterKey] = []
    if env.get("INTERLINK_MASTER_KEY_PREVIOUS"):
        parts = [p for p in env["INTERLINK_MASTER_KEY_PREVIOUS"].split(",") if p.strip()]
        previous += [decode_key(p, "INTERLINK_MASTER_KEY_PREVIOUS") for p in parts]
    if env.get("INTERLINK_MASTER_KEY_PREVIOUS_FILE"):
        path = Path(env["INTERLINK_MASTER_KEY_PREVIOUS_FILE"])
        previous += read_key_file(path, "INTERLINK_MASTER_KEY_PREVIOUS_FILE")
    return _keys([primary, *previous])


def require_master_keys(environ: Mapping[str, str] | None = None) -> MasterKeys:
    keys = load_master_keys(environ)
    if keys is None:
        raise ConfigError(NO_KEY)
    return keys


def _primary(env: Mapping[str, str]) -> MasterKey | None:
    inline, file = env.get("INTERLINK_MASTER_KEY"), env.get("INTERLINK_MASTER_KEY_FILE")
    if inline and file:
        raise ConfigError("set INTERLINK_MASTER_KEY or INTERLINK_MASTER_KEY_FILE, not both")
    if inline:
        return decode_key(inline, "INTERLINK_MASTER_KEY")
    if file:
        keys = read_key_file(Path(file), "INTERLINK_MASTER_KEY_FILE")
        if len(keys) > 1:
            raise ConfigError(f"INTERLINK_MASTER_KEY_FILE {file} holds more than one key")
        return keys[0]
    return None


def _keys(found: Sequence[MasterKey]) -> MasterKeys:
    unique: list[MasterKey] = []
    for key in found:  # the same key twice (primary also listed as previous) counts once
        if all(k.id != key.id for k in unique):
            unique.append(key)
    return MasterKeys(unique[0], tuple(unique[1:]))


def from_provider(name: str, entries: Sequence[EntryPoint] | None = None) -> MasterKeys:
    """The keys the provider plugin ``name`` gives."""
    found = list(entry_points(group=PROVIDER_GROUP) if entries is None else entries)
    match = [e for e in found if e.name == name]
    if not match:
        known = ", ".join(sorted(e.name for e in found)) or "none installed"
        raise ConfigError(f"INTERLINK_KEY_PROVIDER {name!r} is not a key provider ({known})")
    try:
        provider = match[0].load()()
        raw = list(provider.master_keys())
    except ConfigError:
        raise
    except Exception as exc:  # a plugin's failure, told in one line without its internals
        raise ConfigError(f"key provider {name!r} failed: {type(exc).__name__}: {exc}") from None
    if not raw:
        raise ConfigError(f"key provider {name!r} gave no master key")
    keys: list[MasterKey] = []
    for index, key in enumerate(raw):
        if not isinstance(key, bytes) or len(key) != KEY_SIZE:
            raise ConfigError(f"key provider {name!r}: key {index} is not {KEY_SIZE} bytes")
        keys.append(MasterKey(key))
    return _keys(keys)
