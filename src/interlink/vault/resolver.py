"""``${secret:NAME}`` from the encrypted store, for a running node: opened once, kept in memory,
forgotten when the store's secret version moves.

:meth:`StoreSecrets.refresh` reads that version (one row) and says whether it moved; the node
polls it every few seconds and, when it did, compiles again what holds resolved values (the
gateway's System credentials), so a new value is used within seconds without a restart.
"""

from __future__ import annotations

import threading

from interlink.errors import ConfigError
from interlink.store import Store
from interlink.vault.master_keys import MasterKeys
from interlink.vault.vault import Vault


class StoreSecrets:
    """A lookup for :func:`interlink.estate.references.use_secret_store`: a name's current value
    in the store, or None when the store has no such secret."""

    def __init__(self, store: Store, keys: MasterKeys | None) -> None:
        self._store = store
        self._vault = Vault(store, keys) if keys is not None else None
        self._values: dict[str, str | None] = {}  # opened values, and names the store lacks
        self._version: int | None = None
        self._generation = 0  # moved at each clear: a value read before it is not kept
        self._lock = threading.Lock()

    def __call__(self, name: str) -> str | None:
        with self._lock:
            if name in self._values:
                return self._values[name]
            generation = self._generation
        row = self._store.secrets.current(name)
        if row is None:
            value = None
        elif self._vault is None:
            raise ConfigError(
                f"secret '{name}' is in the encrypted store, but this process has no master "
                "key: set INTERLINK_MASTER_KEY, INTERLINK_MASTER_KEY_FILE or INTERLINK_KEY_PROVIDER"
            )
        else:
            value = self._vault.open(row)
        with self._lock:
            if generation == self._generation:
                self._values[name] = value
        return value

    def refresh(self) -> bool:
        """Forget the values when the store's secret version moved since last time; whether it
        did (the first call only records it)."""
        version = self._store.secrets.version()
        with self._lock:
            moved = self._version is not None and version != self._version
            if moved or self._version is None:
                self._values.clear()
                self._generation += 1
            self._version = version
        return moved
