"""Consumer API keys held in memory for the request path, refreshed from the store.

Verifying a key must not cost a database round trip per request, so the gateway and the event
ingress check keys against this index. Revocations made elsewhere (the CLI, another node)
arrive with the next refresh; the process that revokes a key refreshes at once.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from interlink.store.base import KEY_PREFIX, ConsumerKey, Store, token_digest, token_id_of


class KeyRing:
    def __init__(self, store: Store, *, clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self._clock = clock or (lambda: datetime.now(UTC))
        self._keys: dict[str, ConsumerKey] = {}
        self._lock = threading.Lock()
        self.loaded_at: datetime | None = None

    def refresh(self) -> int:
        """Reload every key from the store (blocking: call it off the event loop)."""
        keys = {key.id: key for key in self._store.list_consumer_keys()}
        with self._lock:
            self._keys = keys
            self.loaded_at = self._clock()
        return len(keys)

    def verify(self, plaintext: str) -> ConsumerKey | None:
        """The key's record when ``plaintext`` is a known, unrevoked, unexpired key."""
        key_id = token_id_of(plaintext, KEY_PREFIX)
        if key_id is None:
            return None
        key = self._keys.get(key_id)
        if key is None or not hmac.compare_digest(token_digest(plaintext), key.digest):
            return None
        return key if key.usable(self._clock()) else None

    def __len__(self) -> int:
        return len(self._keys)
