"""A node's view of the encrypted secret store: the lookup `${secret:NAME}` ends in, and the
task that re-resolves what changed.

Every ``every`` seconds the node reads the store's secret version (one row). When a `secrets
set`, `rotate` or `delete` moved it, on this node or another, the opened values are forgotten
and the listeners (the gateway, which compiles System credentials into its routes) compile again
from the running revision: the data path uses the new value within seconds, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from interlink.errors import ConfigError, InterlinkError
from interlink.estate.references import use_secret_store
from interlink.store import Store
from interlink.vault import StoreSecrets, load_master_keys

log = logging.getLogger("interlink.secrets")

DEFAULT_EVERY = 2.0  # seconds between two reads of the secret version


def poll_interval() -> float:
    """``INTERLINK_SECRETS_POLL`` (seconds), else :data:`DEFAULT_EVERY`."""
    text = os.environ.get("INTERLINK_SECRETS_POLL", "").strip()
    if not text:
        return DEFAULT_EVERY
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise ConfigError(
            f"INTERLINK_SECRETS_POLL={text[:20]!r}: give the seconds between two reads of the "
            "store's secret version (more than 0, at most 3600)"
        )
    return value


class NodeSecrets:
    """The store's secrets for this process; :meth:`install` makes every reference see them."""

    def __init__(self, store: Store) -> None:
        # Read once: a bad key is one error at start, not one per secret later.
        self.lookup = StoreSecrets(store, load_master_keys())
        self.every = poll_interval()
        self.lookup.refresh()
        self._listeners: list[Callable[[], Awaitable[None]]] = []

    def install(self) -> None:
        use_secret_store(self.lookup)

    def uninstall(self) -> None:
        use_secret_store(None)

    def on_change(self, listener: Callable[[], Awaitable[None]]) -> None:
        self._listeners.append(listener)

    async def follow(self) -> None:
        """Poll the secret version until cancelled; tell the listeners when it moved."""
        every = self.every
        failing = False
        while True:
            await asyncio.sleep(every)
            try:
                moved = await asyncio.to_thread(self.lookup.refresh)
            except InterlinkError as exc:
                if not failing:
                    log.warning("secret store unreadable, values in use kept: %s", exc.message)
                failing = True
                continue
            failing = False
            if moved:
                log.info("secrets changed in the store: resolving them again")
                for listener in self._listeners:
                    try:
                        await listener()
                    except Exception:
                        log.exception("a component failed to take the new secrets")
