"""The platform's token signing keys sealed like the store's secrets: the PKCS#8 PEM under a
data key of its own, the data key wrapped under the master key (:mod:`interlink.vault.envelope`).

The seal binds the key to its kid, as ``platform-key:KID`` version 1 (a kid is never rotated
in place: a new key has a new kid). No secret name holds a ``:``, so a sealed signing key
copied into the secret store, or the other way round, does not open. A plain row, written
before migration 0038, is read as it is and sealed by :func:`reseal_batch`: the rotation pass
seals those, ``interlink secrets rewrap`` moves every key to the target master key.
"""

from __future__ import annotations

import logging
from collections.abc import MutableSequence
from typing import Final

from interlink.errors import ConfigError
from interlink.store import PlatformKey, Resealed, Store
from interlink.vault.envelope import Sealed, SealError, open_value, seal, unwrap, wrap
from interlink.vault.master_keys import NO_KEY, MasterKey, MasterKeys

log = logging.getLogger("interlink.secrets")

VERSION: Final = 1


def sealed_name(kid: str) -> str:
    """The name a key's seal is bound to."""
    return f"platform-key:{kid}"


def seal_private_key(master: MasterKey, kid: str, pem: str) -> Sealed:
    return seal(master, sealed_name(kid), VERSION, pem)


def add_key(store: Store, keys: MasterKeys, kid: str, alg: str, pem: str) -> PlatformKey:
    """Store a new signing key sealed under the primary master key."""
    sealed = seal_private_key(keys.primary, kid, pem)
    return store.platform_keys.add(kid, alg, sealed.ciphertext, sealed.wrapped_key, sealed.key_id)


def open_private_key(keys: MasterKeys | None, row: PlatformKey) -> str:
    """The PEM of one key, sealed or (before migration 0038) plain; raises ``ConfigError``
    when no configured master key opens it, ``SealError`` when the row was altered or moved.
    Messages name the kid and the master key's id, never key material."""
    if row.key_id is None:
        if row.private_pem is None:  # the table's CHECK forbids it
            raise SealError(f"platform signing key {row.kid} has no key material")
        return row.private_pem
    if row.ciphertext is None or row.wrapped_key is None:
        raise SealError(f"platform signing key {row.kid} has no key material")
    master = _master(keys, row)
    return open_value(
        master, sealed_name(row.kid), VERSION, Sealed(row.ciphertext, row.wrapped_key, row.key_id)
    )


def reseal_batch(
    store: Store,
    keys: MasterKeys,
    goal: MasterKey,
    batch: int,
    unreadable: MutableSequence[str],
    *,
    plain_only: bool = False,
) -> int | None:
    """Seal up to ``batch`` keys under ``goal``, in one transaction: plain ones sealed, those
    under another master key wrapped again (only the data key: the ciphertext stays). None
    when none is left; the kids of keys no configured master key opens are added to
    ``unreadable`` and skipped after. With ``plain_only``, keys already sealed stay as they are
    (what the rotation pass does: moving them to another master key is ``rewrap``'s)."""
    under = None if plain_only else goal.id
    rows = store.platform_keys.not_under(under, batch, unreadable)
    if not rows:
        return None
    moved: list[Resealed] = []
    for row in rows:
        try:
            moved.append(_resealed(keys, goal, row))
        except (SealError, ConfigError) as exc:
            log.error("platform signing keys: %s", exc)
            unreadable.append(row.kid)
    return store.platform_keys.reseal(moved)


def seal_plain(store: Store, keys: MasterKeys, batch: int = 100) -> int:
    """Seal every plain key under the primary master key; how many were."""
    done = 0
    unreadable: list[str] = []
    while True:
        moved = reseal_batch(store, keys, keys.primary, batch, unreadable, plain_only=True)
        if moved is None:
            break
        done += moved
    if done:
        log.info("platform signing keys: %d plain key(s) sealed under %s", done, keys.primary.id)
    return done


def no_master_key(reason: str) -> ConfigError:
    return ConfigError(f"{reason}: its signing keys are sealed under the master key; {NO_KEY}")


def _resealed(keys: MasterKeys, goal: MasterKey, row: PlatformKey) -> Resealed:
    name = sealed_name(row.kid)
    if row.key_id is None:
        sealed = seal_private_key(goal, row.kid, open_private_key(keys, row))
        return Resealed(row, sealed.ciphertext, sealed.wrapped_key, goal.id)
    if row.ciphertext is None or row.wrapped_key is None:
        raise SealError(f"platform signing key {row.kid} has no key material")
    data_key = unwrap(_master(keys, row), name, VERSION, row.wrapped_key)
    return Resealed(row, row.ciphertext, wrap(goal, name, VERSION, data_key), goal.id)


def _master(keys: MasterKeys | None, row: PlatformKey) -> MasterKey:
    if keys is None:
        raise no_master_key(f"platform signing key {row.kid} is sealed")
    master = keys.find(row.key_id or "")
    if master is None:
        raise ConfigError(
            f"platform signing key {row.kid} is wrapped under master key {row.key_id}, which "
            f"is not configured (configured: {', '.join(keys.ids)}); set it as "
            "INTERLINK_MASTER_KEY_PREVIOUS"
        )
    return master
