"""The encrypted secret store: set, rotate, delete, read and list secrets, and rewrap them all
under a new master key.

Each change goes through :meth:`Vault._changed`, the one place that records who changed what
(never a value). Values are never logged, returned by listings or put in an error message.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass
from typing import Final, Literal

from interlink.errors import ConfigError
from interlink.store import SealedSecret, SecretSummary, Store
from interlink.vault.envelope import Sealed, SealError, open_value, seal, unwrap, wrap
from interlink.vault.master_keys import MasterKey, MasterKeys
from interlink.vault.platform_keys import reseal_batch

log = logging.getLogger("interlink.secrets")

#: What a secret name may be: what ``${secret:NAME}`` accepts.
NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
MAX_NAME: Final = 200
MAX_VALUE: Final = 64 * 1024  # bytes: a certificate chain fits, a file does not belong here

Change = Literal["set", "rotate", "delete", "rewrap"]


@dataclass(frozen=True)
class SecretChange:
    """One change to the store, as recorded: never the value."""

    change: Change
    name: str | None  # None for a rewrap (every secret)
    version: int | None
    by: str


@dataclass(frozen=True)
class RewrapResult:
    rewrapped: int  # rows this run moved to the target key
    remaining: int  # rows still under another key (unreadable ones: no configured key opens them)
    unreadable: tuple[str, ...]  # "name vVERSION" / "platform key KID" no configured key opens
    platform_keys: int = 0  # token signing keys this run sealed or moved to the target key


def check_name(name: str) -> str:
    if len(name) > MAX_NAME or NAME.fullmatch(name) is None:
        raise ConfigError(
            f"secret name {name[:MAX_NAME]!r} is not valid: letters, digits, '_', '.', '-', "
            "starting with a letter or '_' (what ${secret:NAME} accepts)"
        )
    return name


def check_value(value: str) -> str:
    if not value:
        raise ConfigError("the secret value is empty")
    if len(value.encode()) > MAX_VALUE:
        raise ConfigError(f"the secret value is larger than {MAX_VALUE // 1024} KiB")
    return value


class Vault:
    """Secrets sealed in ``store`` under ``keys``; synchronous, safe from several threads."""

    def __init__(self, store: Store, keys: MasterKeys) -> None:
        self._store = store
        self._rows = store.secrets
        self.keys = keys

    def set(self, name: str, value: str, by: str) -> SealedSecret:
        """Store a new secret; refuses a name that exists (``rotate`` gives it a new value)."""
        return self._add(name, value, by, "set")

    def rotate(self, name: str, value: str, by: str) -> SealedSecret:
        """Give an existing secret a new value, as a new version."""
        return self._add(name, value, by, "rotate")

    def delete(self, name: str, by: str) -> None:
        """Remove every version of a secret; raises ``NotFound``."""
        self._rows.delete(check_name(name))
        self._changed(SecretChange("delete", name, None, by))

    def get(self, name: str) -> str | None:
        """The current value of ``name``, or None when the store has no such secret."""
        row = self._rows.current(name)
        return None if row is None else self.open(row)

    def open(self, row: SealedSecret) -> str:
        master = self._master(row)
        return open_value(master, row.name, row.version, _sealed(row))

    def list(self) -> list[SecretSummary]:
        return self._rows.summaries()

    def rewrap(
        self,
        target: MasterKey | None = None,
        *,
        by: str,
        batch: int = 100,
        pause: float = 0.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> RewrapResult:
        """Wrap every data key under ``target`` (the primary key unless given), ``batch`` rows
        a transaction, ``pause`` seconds between batches: the secrets', then the platform's
        token signing keys' (a plain one, from before migration 0038, is sealed).

        Only the wrapped data key and its key id change, together, in one row: a row is always
        under the old key or the new one, so a rewrap stopped at any point (kill -9 included)
        leaves every secret and signing key readable by a node that knows both, and running it
        again goes on where it stopped. ``progress(done, left)`` is told after each batch."""
        goal = target or self.keys.primary
        done = keys_done = 0
        unreadable: list[tuple[str, int]] = []
        unreadable_keys: list[str] = []
        while (moved := self._rewrap_batch(goal, batch, unreadable)) is not None:
            done += moved
            self._after_batch(goal, done + keys_done, pause, progress)
        # The platform's token signing keys are sealed under the same master key.
        store = self._store
        while (moved := reseal_batch(store, self.keys, goal, batch, unreadable_keys)) is not None:
            keys_done += moved
            self._after_batch(goal, done + keys_done, pause, progress)
        self._changed(SecretChange("rewrap", None, None, by))
        return RewrapResult(
            done,
            len(unreadable) + len(unreadable_keys),
            tuple(f"{name} v{version}" for name, version in unreadable)
            + tuple(f"platform key {kid}" for kid in unreadable_keys),
            keys_done,
        )

    def _rewrap_batch(
        self, goal: MasterKey, batch: int, unreadable: MutableSequence[tuple[str, int]]
    ) -> int | None:
        """Move up to ``batch`` secret versions under ``goal``; None when none is left."""
        rows = self._rows.not_under(goal.id, batch, unreadable)
        if not rows:
            return None
        moved: list[tuple[SealedSecret, bytes, str]] = []
        for row in rows:
            try:
                data_key = unwrap(self._master(row), row.name, row.version, row.wrapped_key)
            except (SealError, ConfigError) as exc:
                log.error("rewrap: %s", exc)
                unreadable.append((row.name, row.version))
                continue
            moved.append((row, wrap(goal, row.name, row.version, data_key), goal.id))
        return self._rows.rewrap(moved)

    def _after_batch(
        self,
        goal: MasterKey,
        done: int,
        pause: float,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        if progress is not None:
            secrets = self._rows.count_by_key().items()
            signing = self._store.platform_keys.count_by_key().items()
            progress(done, sum(n for k, n in (*secrets, *signing) if k != goal.id))
        if pause > 0:
            time.sleep(pause)

    def _add(
        self, name: str, value: str, by: str, change: Literal["set", "rotate"]
    ) -> SealedSecret:
        check_name(name)
        check_value(value)
        primary = self.keys.primary

        def sealing(version: int) -> tuple[bytes, bytes, str]:
            sealed = seal(primary, name, version, value)
            return sealed.ciphertext, sealed.wrapped_key, sealed.key_id

        row = self._rows.add(name, sealing, exists=change == "rotate")
        self._changed(SecretChange(change, name, row.version, by))
        return row

    def _master(self, row: SealedSecret) -> MasterKey:
        master = self.keys.find(row.key_id)
        if master is None:
            raise ConfigError(
                f"secret {row.name!r} version {row.version} is wrapped under master key "
                f"{row.key_id}, which is not configured (configured: {', '.join(self.keys.ids)}); "
                "set it as INTERLINK_MASTER_KEY_PREVIOUS"
            )
        return master

    def _changed(self, change: SecretChange) -> None:
        """Record one change to the store (what, which secret and version, by whom)."""
        log.info(
            "secret %s: %s%s by %s",
            change.change,
            change.name or "(all)",
            f" version {change.version}" if change.version is not None else "",
            change.by,
        )


def _sealed(row: SealedSecret) -> Sealed:
    return Sealed(row.ciphertext, row.wrapped_key, row.key_id)
