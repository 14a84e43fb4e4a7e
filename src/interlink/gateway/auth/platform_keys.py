"""The platform's signing keys in memory: what signs the gateway's access tokens, what checks them.

The keys live in the store (:mod:`interlink.store.platform_keys`), shared by every node. The
newest signs; all are published at ``/.well-known/jwks.json`` and verify tokens. A node reloads
them every ``REFRESH`` seconds, and at once (at most every ``MIN_RELOAD`` seconds) when a token
names a ``kid`` it does not hold: another node rotated.

:func:`rotate` runs on one node at a time, under a lease: it adds a key when the newest is
older than the rotation period, and deletes a key once the tokens it may have signed have
expired (its successor is older than a token's lifetime plus the time the other nodes take to
notice the successor).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from interlink.errors import InterlinkError
from interlink.gateway.auth.jwks import Jwk
from interlink.http.jose import SigningKey, b64url_encode
from interlink.store import Store
from interlink.vault import MasterKeys
from interlink.vault.platform_keys import add_key, open_private_key, seal_plain

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

log = logging.getLogger("interlink.gateway")

REFRESH: Final = 30.0  # seconds between reloads of the keys from the store
MIN_RELOAD: Final = 2.0  # seconds between reloads an unknown kid may cause
RSA_BITS: Final = 2048


def generate(alg: str) -> tuple[str, str]:
    """A fresh key for ``alg``: its kid and its private key as PKCS#8 PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key: PrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if alg == "ES256"
        else rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return secrets.token_urlsafe(12), pem


def rotate(
    store: Store, master: MasterKeys, alg: str, rotation: float, lifetime: float
) -> str | None:
    """One rotation pass (blocking); the kid of the key it added, if it added one. A new key
    is sealed under the primary master key, and so is a plain one left from before
    migration 0038."""
    seal_plain(store, master)
    keys = store.platform_keys.list()  # newest first
    now = store.platform_keys.now()
    added: str | None = None
    if not keys or keys[0].alg != alg or now - keys[0].created_at >= timedelta(seconds=rotation):
        kid, pem = generate(alg)
        add_key(store, master, kid, alg, pem)
        added = kid
        keys.insert(0, store.platform_keys.list()[0])
    # A key stops signing once its successor is known everywhere; its tokens live on after.
    keep = timedelta(seconds=lifetime + 2 * REFRESH + 60)
    for successor, key in itertools.pairwise(keys):
        if now - successor.created_at > keep:
            store.platform_keys.delete(key.kid)
            log.info("platform signing key %s retired", key.kid)
    return added


def public_jwk(kid: str, alg: str, key: PrivateKey) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
            "kid": kid,
            "alg": alg,
            "use": "sig",
        }
    rsa_numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "n": b64url_encode(rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url_encode(rsa_numbers.e.to_bytes((rsa_numbers.e.bit_length() + 7) // 8, "big")),
        "kid": kid,
        "alg": alg,
        "use": "sig",
    }


class PlatformKeyRing:
    """The store's platform keys, parsed once per change; what :class:`JwtMethod` reads as its
    key source for ``oauth2`` routes, and what the token endpoint signs with."""

    def __init__(
        self,
        store: Store,
        master: MasterKeys | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._master = master  # None: only keys from before migration 0038, in plain, open
        self._clock = clock
        self._lock = threading.Lock()
        self.signing: SigningKey | None = None
        self.by_kid: dict[str, Jwk] = {}
        self.document: dict[str, Any] = {"keys": []}  # the published JWKS
        self.generation = 0  # moves whenever the set of keys changes
        self._reloaded_at = -MIN_RELOAD
        self._reloading: asyncio.Task[None] | None = None
        self._failing = False

    def refresh(self) -> None:
        """Reload the keys from the store (blocking: off the event loop)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        rows = self._store.platform_keys.list()
        if [r.kid for r in rows] == list(self.by_kid):
            return
        by_kid: dict[str, Jwk] = {}
        published: list[dict[str, Any]] = []
        signing: SigningKey | None = None
        for row in rows:
            pem = open_private_key(self._master, row)
            private = serialization.load_pem_private_key(pem.encode("ascii"), None)
            if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                continue
            by_kid[row.kid] = Jwk(row.kid, row.alg, private.public_key())
            published.append(public_jwk(row.kid, row.alg, private))
            if signing is None:
                signing = SigningKey(row.kid, row.alg, private)
        with self._lock:
            self.by_kid, self.signing = by_kid, signing
            self.document = {"keys": published}
            self.generation += 1

    def tick(self) -> None:
        """Nothing: :func:`keep_refreshed` reloads the keys in the background."""

    async def key_for(self, kid: str | None) -> Jwk | str:
        if kid is None:
            return "token has no kid"
        found = self.by_kid.get(kid)
        if found is None:
            await self.reload_soon()
            found = self.by_kid.get(kid)
        return found if found is not None else f"no platform key {kid!r}"

    async def reload_soon(self) -> None:
        """Reload unless a reload started less than ``MIN_RELOAD`` seconds ago: what a token
        naming an unknown kid, or a token request before the first key arrived, may cause."""
        if self._clock() - self._reloaded_at >= MIN_RELOAD:
            await self.reload()

    async def reload(self) -> None:
        """Reload now, sharing a reload under way."""
        if self._reloading is None or self._reloading.done():
            self._reloaded_at = self._clock()
            self._reloading = asyncio.create_task(asyncio.to_thread(self.refresh))
        try:
            await asyncio.shield(self._reloading)
        except Exception as exc:  # the store away (or a bad row): the keys held stay in force
            self._failed(exc)
        else:
            self._recovered()

    def load(self) -> None:
        """Reload now, blocking; like :meth:`reload`, a failure is logged and the keys held
        stay (a worker's first load: the node has checked the keys open)."""
        try:
            self.refresh()
        except Exception as exc:
            self._failed(exc)
        else:
            self._recovered()

    def _failed(self, exc: Exception) -> None:
        if not self._failing:  # said once a streak; names a kid at most, never key material
            why = exc.message if isinstance(exc, InterlinkError) else repr(exc)
            log.warning("platform keys not reloaded: %s; the %d held stay", why, len(self.by_kid))
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.info("platform keys reloaded again")
        self._failing = False


async def keep_refreshed(ring: PlatformKeyRing, every: float = REFRESH) -> None:
    """Reload ``ring`` every ``every`` seconds until cancelled; while the store does not answer
    the keys held stay in force."""
    while True:
        await ring.reload()
        await asyncio.sleep(every)
