"""Consumer API keys held in memory for the request path, refreshed from the store.

Verifying a key must not cost a database round trip per request, so the gateway and the event
ingress check keys against this index. Revocations made elsewhere (the CLI, another node)
arrive with the next refresh; the process that revokes a key refreshes at once.

A refresh first reads the store's key version (one row, moved by every change to the keys,
whoever makes it) and reloads the keys only when it differs from the one they were loaded at,
so checking often costs next to nothing however many keys there are.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from hashlib import sha256

from interlink.errors import InterlinkError
from interlink.store import Store
from interlink.store.base import KEY_PREFIX
from interlink.store.consumer_keys import ConsumerKey

log = logging.getLogger("interlink.store")


class KeyRing:
    def __init__(self, store: Store, *, clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self._clock = clock or (lambda: datetime.now(UTC))
        self._count = 0  # keys loaded, revoked ones included
        # Unrevoked keys by their SHA-256 digest: a request costs one hash and one lookup.
        # Looking a secret up by its digest leaks nothing a timing attack could use: the
        # attacker does not control the digest of what they send.
        self._by_digest: dict[bytes, ConsumerKey] = {}
        self._version: int | None = None  # the store's key version the keys were loaded at
        self._lock = threading.Lock()
        self.loaded_at: datetime | None = None

    def refresh(self) -> int:
        """Reload the keys when they changed in the store since they were loaded (blocking:
        call it off the event loop); the number of keys held, revoked ones included."""
        # Read before the keys: a change made while they load moves the version past the one
        # recorded here, so the next refresh loads it.
        version = self._store.consumer_keys.version()
        if version == self._version:
            return self._count
        keys = self._store.consumer_keys.list()
        by_digest = {bytes.fromhex(k.digest): k for k in keys if not k.revoked}
        with self._lock:
            self._count = len(keys)
            self._by_digest = by_digest
            self._version = version
            self.loaded_at = self._clock()
        return len(keys)

    def verify(self, plaintext: str) -> ConsumerKey | None:
        """The key's record when ``plaintext`` is a known, unrevoked, unexpired key."""
        if not plaintext.startswith(KEY_PREFIX):
            return None
        key = self._by_digest.get(sha256(plaintext.encode()).digest())
        if key is None:
            return None
        if key.expires_at is None or key.usable(self._clock()):
            return key
        return None

    def __len__(self) -> int:
        return self._count


async def keep_refreshed(keyring: KeyRing, every: float) -> None:
    """Refresh ``keyring`` every ``every`` seconds until cancelled. While the store does not
    answer, the keys loaded last stay in force; that is said once, and once when it answers."""
    failing = False
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(keyring.refresh)
        except Exception as exc:  # the store is down (or worse): keep the keys we have
            if not failing:
                log.warning(
                    "consumer keys not refreshed: %s; the %d loaded stay in force",
                    exc.message if isinstance(exc, InterlinkError) else repr(exc),
                    len(keyring),
                )
            failing = True
        else:
            if failing:
                log.info("consumer keys refreshed again")
            failing = False
