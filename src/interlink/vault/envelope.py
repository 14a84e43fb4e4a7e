"""Envelope encryption of one secret version: AES-256-GCM under a data key of its own, the data
key wrapped (AES-256-GCM too) under a master key.

The associated data of both binds them to the secret's name and version (and the wrap to the
master key's id), so a row copied over another, or a wrapped key moved to another row, fails to
open instead of yielding the wrong secret. Each sealed blob is the 12-byte nonce, then the
ciphertext with its tag.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from interlink.errors import InterlinkError
from interlink.vault.master_keys import MasterKey

NONCE_SIZE = 12


class SealError(InterlinkError):
    """A sealed secret does not open: wrong master key, or the row was altered or moved."""

    status = 500
    title = "Secret cannot be opened"


@dataclass(frozen=True)
class Sealed:
    ciphertext: bytes
    wrapped_key: bytes
    key_id: str


def _value_aad(name: str, version: int) -> bytes:
    return b"interlink-secret-value\0" + name.encode() + b"\0" + str(version).encode()


def _key_aad(name: str, version: int, key_id: str) -> bytes:
    return (
        b"interlink-secret-key\0"
        + name.encode()
        + b"\0"
        + str(version).encode()
        + b"\0"
        + key_id.encode()
    )


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_SIZE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], aad)


def seal(master: MasterKey, name: str, version: int, value: str) -> Sealed:
    """``value`` sealed under a fresh data key, itself wrapped under ``master``."""
    data_key = AESGCM.generate_key(bit_length=256)
    ciphertext = _encrypt(data_key, value.encode(), _value_aad(name, version))
    return Sealed(ciphertext, wrap(master, name, version, data_key), master.id)


def wrap(master: MasterKey, name: str, version: int, data_key: bytes) -> bytes:
    return _encrypt(master.key, data_key, _key_aad(name, version, master.id))


def unwrap(master: MasterKey, name: str, version: int, wrapped: bytes) -> bytes:
    """The data key of one version; raises ``SealError`` naming the secret, never a value."""
    try:
        return _decrypt(master.key, wrapped, _key_aad(name, version, master.id))
    except (InvalidTag, ValueError):
        raise SealError(
            f"the data key of secret {name!r} version {version} does not open under master key "
            f"{master.id}: the row was altered or moved"
        ) from None


def open_value(master: MasterKey, name: str, version: int, sealed: Sealed) -> str:
    """The plaintext of one version; raises ``SealError``."""
    data_key = unwrap(master, name, version, sealed.wrapped_key)
    try:
        return _decrypt(data_key, sealed.ciphertext, _value_aad(name, version)).decode()
    except (InvalidTag, ValueError):
        raise SealError(
            f"secret {name!r} version {version} does not open: the row was altered or moved"
        ) from None
