"""JSON Web Key Sets (RFC 7517): the public keys RS256 and ES256 tokens are checked with.

A :class:`JwksCache` holds one URL's keys, parsed once into public-key objects, and lives in
``services.state`` under :func:`jwks_key`: every route naming the URL shares it, and a reload
keeps it. It is filled on the first request that needs it, then refreshed:

- every ``REFRESH`` seconds, or sooner when the response's ``Cache-Control: max-age`` says so
  (never more often than every ``MIN_REFRESH``), in the background: requests go on with the
  keys at hand meanwhile;
- when a token names a ``kid`` the set does not hold (the issuer rotated its keys): that
  request awaits the fetch.

Whatever asks, one URL is fetched at most once every ``MIN_INTERVAL`` seconds, so tokens with
made-up ``kid`` values cannot turn the gateway against the issuer; concurrent requests share
the fetch under way. A failed fetch keeps the keys already held and is logged once, until a
fetch succeeds again. Responses are read up to ``MAX_BYTES`` and within ``TIMEOUT`` seconds.

With OIDC discovery (a route's ``discovery: true``) the cache's URL is the issuer's
``/.well-known/openid-configuration``: each fetch reads it first, checks that its ``issuer`` is
the route's, and fetches the keys at its ``jwks_uri`` (so an issuer moving its keys is followed).

Keys: ``kty: RSA`` (``n``, ``e``; at least ``MIN_RSA_BITS``) verifies RS256, ``kty: EC`` with
``crv: P-256`` (``x``, ``y``) verifies ES256. Keys for another ``use`` than ``sig``, another
``alg``, or of another type or curve are left out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx

from interlink.gateway.auth.jws import InvalidToken, b64url_decode
from interlink.gateway.state import SharedState, StateKey

if TYPE_CHECKING:
    from interlink.gateway.auth.jws import PublicKey

log = logging.getLogger("interlink.gateway")

MAX_BYTES: Final = 256 * 1024
TIMEOUT: Final = 5.0  # seconds for a whole fetch: connect, headers and body
MIN_INTERVAL: Final = 30.0  # seconds between two fetches of one URL, whatever asks
REFRESH: Final = 600.0  # seconds between background refreshes, unless max-age says sooner
MIN_REFRESH: Final = 60.0
MIN_RSA_BITS: Final = 2048
MAX_KEYS: Final = 100
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


class JwksError(Exception):
    """The key set could not be fetched or read; the message says why."""


@dataclass(frozen=True, slots=True)
class Jwk:
    kid: str | None
    alg: str  # the one algorithm this key verifies: "RS256" or "ES256"
    key: PublicKey


@dataclass(frozen=True, slots=True)
class KeySet:
    keys: tuple[Jwk, ...]
    by_kid: dict[str, Jwk]
    skipped: tuple[str, ...] = ()  # why some keys of the document were left out

    @property
    def fingerprint(self) -> tuple[tuple[str | None, str, Any], ...]:
        """What tells two key sets apart: each key's kid, algorithm and public numbers."""
        return tuple((k.kid, k.alg, k.key.public_numbers()) for k in self.keys)

    def find(self, kid: str | None) -> Jwk | None:
        """The key a token with ``kid`` names. Without a kid, a token is only checked when the
        set holds one key; a set of one key without a kid serves any kid."""
        if kid is not None:
            found = self.by_kid.get(kid)
            if found is not None:
                return found
        if len(self.keys) == 1 and (kid is None or self.keys[0].kid is None):
            return self.keys[0]
        return None


def _integer(jwk: dict[str, Any], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"no {name}")
    try:
        return int.from_bytes(b64url_decode(value), "big")
    except InvalidToken as exc:
        raise ValueError(f"{name} is not base64url") from exc


def _key(jwk: dict[str, Any]) -> Jwk:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa  # see jws.verify_public

    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise ValueError("kid is not a string")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise ValueError(f"use is {use!r}, not 'sig'")
    kty = jwk.get("kty")
    if kty == "RSA":
        alg = "RS256"
        n, e = _integer(jwk, "n"), _integer(jwk, "e")
        if n.bit_length() < MIN_RSA_BITS:
            raise ValueError(f"RSA key shorter than {MIN_RSA_BITS} bits")
        if e < 3 or e % 2 == 0:
            raise ValueError("RSA exponent is not valid")
        key: PublicKey = rsa.RSAPublicNumbers(e, n).public_key()
    elif kty == "EC":
        alg = "ES256"
        if jwk.get("crv") != "P-256":
            raise ValueError(f"curve {jwk.get('crv')!r} is not P-256")
        x, y = _integer(jwk, "x"), _integer(jwk, "y")
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    else:
        raise ValueError(f"key type {kty!r} is neither RSA nor EC")
    declared = jwk.get("alg")
    if declared is not None and declared != alg:
        raise ValueError(f"alg {declared!r} is not {alg}")
    return Jwk(kid, alg, key)


def parse_jwks(data: bytes) -> KeySet:
    """The RS256 and ES256 keys of a JWKS document; JwksError when it holds none."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwksError("not JSON") from exc
    entries = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise JwksError("not a JWKS document: no 'keys' list")
    if len(entries) > MAX_KEYS:
        raise JwksError(f"more than {MAX_KEYS} keys")
    keys: list[Jwk] = []
    by_kid: dict[str, Jwk] = {}
    skipped: list[str] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            skipped.append(f"key {index}: not an object")
            continue
        try:
            jwk = _key(entry)
        except ValueError as exc:
            name = entry.get("kid")
            skipped.append(f"key {name if isinstance(name, str) else index}: {exc}")
            continue
        if jwk.kid is not None:
            if jwk.kid in by_kid:
                skipped.append(f"key {jwk.kid}: kid repeated")
                continue
            by_kid[jwk.kid] = jwk
        keys.append(jwk)
    if not keys:
        why = f" ({'; '.join(skipped)})" if skipped else ""
        raise JwksError(f"no RS256 or ES256 signing key{why}")
    return KeySet(tuple(keys), by_kid, tuple(skipped))


def max_age(cache_control: str | None) -> float | None:
    if not cache_control:
        return None
    if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return 0.0
    found = _MAX_AGE.search(cache_control)
    return float(found.group(1)) if found else None


async def download(url: str) -> tuple[bytes, float | None]:
    """The body at ``url`` (at most MAX_BYTES, within TIMEOUT) and its max-age, if any."""
    try:
        async with (
            asyncio.timeout(TIMEOUT),
            httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client,
            client.stream(
                "GET", url, headers={"accept": "application/json", "accept-encoding": "identity"}
            ) as response,
        ):
            if response.status_code != 200:
                raise JwksError(f"HTTP {response.status_code}")
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                raise JwksError("the response is encoded; the gateway asked for identity")
            length = response.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > MAX_BYTES:
                raise JwksError(f"the response is larger than {MAX_BYTES // 1024} KiB")
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise JwksError(f"the response is larger than {MAX_BYTES // 1024} KiB")
            return bytes(body), max_age(response.headers.get("cache-control"))
    except TimeoutError as exc:
        raise JwksError(f"no complete answer within {TIMEOUT:g} s") from exc
    except httpx.HTTPError as exc:
        raise JwksError(str(exc) or type(exc).__name__) from exc


class JwksCache:
    """The keys at one JWKS URL, fetched on first need and refreshed as the module says."""

    def __init__(
        self,
        url: str,
        label: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        issuer: str | None = None,
    ) -> None:
        self.url = url
        self.issuer = issuer  # set: ``url`` is the issuer's discovery document
        self.label = label or url  # for logs: the URL as the estate writes it (a reference)
        self.clock = clock
        self.keys: KeySet | None = None
        self.generation = 0  # bumped whenever the set of keys changes
        self.fetches = 0  # fetches started
        self._last_attempt: float | None = None
        self._refresh_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._failing = False  # a failure was logged and no fetch has succeeded since

    async def key_for(self, kid: str | None) -> Jwk | str:
        """The key a token's ``kid`` names, or why there is none."""
        now = self.clock()
        keys = self.keys
        if keys is None:
            if self._running() or self._may_fetch(now):
                await self._fetch_shared(now)
            keys = self.keys
            if keys is None:
                return "the issuer's signing keys are not available"
        found = keys.find(kid)
        if found is not None:
            return found
        if kid is None:
            return "token has no kid, and the issuer has several keys"
        if self._running() or self._may_fetch(now):
            await self._fetch_shared(now)
            keys = self.keys
            found = keys.find(kid) if keys is not None else None
            if found is not None:
                return found
        shown = kid if len(kid) <= 64 else f"{kid[:64]}…"  # it is the caller's text
        return f"token key {shown} is not one of the issuer's keys"

    def tick(self) -> None:
        """Start a background refresh when one is due, on every request (remembered tokens
        too, so a withdrawn key is noticed): it never waits, requests go on with the keys held."""
        now = self.clock()
        if (
            now >= self._refresh_at
            and self.keys is not None
            and not self._running()
            and self._may_fetch(now)
        ):
            self._start(now)

    def _running(self) -> bool:
        """A fetch is under way on this event loop (a request may join it)."""
        task = self._task
        return (
            task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop()
        )

    def _may_fetch(self, now: float) -> bool:
        last = self._last_attempt
        return last is None or now - last >= MIN_INTERVAL or now < last

    def _start(self, now: float) -> asyncio.Task[None]:
        self._last_attempt = now
        self.fetches += 1
        task = self._task = asyncio.get_running_loop().create_task(self._fetch())
        return task

    async def _fetch_shared(self, now: float) -> None:
        task = self._task if self._running() else None
        if task is None:
            task = self._start(now)
        # Shielded: a request given up on does not cancel the fetch others wait for.
        await asyncio.shield(task)

    async def _fetch(self) -> None:
        try:
            url = self.url
            if self.issuer is not None:
                document, _ = await download(url)
                url = discovered_jwks_uri(document, self.issuer)
            body, age = await download(url)
            keys = parse_jwks(body)
        except JwksError as exc:
            self._refresh_at = self.clock() + MIN_INTERVAL
            if not self._failing:
                self._failing = True
                held = len(self.keys.keys) if self.keys is not None else 0
                log.warning(
                    "JWKS %s not fetched (%s); keeping the %d key%s held",
                    self.label,
                    exc,
                    held,
                    "" if held == 1 else "s",
                )
            return
        except Exception:  # never leave a request waiting on an unexpected error
            self._refresh_at = self.clock() + MIN_INTERVAL
            if not self._failing:
                self._failing = True
                log.exception("JWKS %s not fetched", self.label)
            return
        interval = REFRESH if age is None else min(REFRESH, max(MIN_REFRESH, age))
        self._refresh_at = self.clock() + interval
        if self._failing:
            self._failing = False
            log.info("JWKS %s fetched again", self.label)
        if self.keys is None or self.keys.fingerprint != keys.fingerprint:
            self.keys = keys
            self.generation += 1
            if keys.skipped:
                log.warning("JWKS %s: left out %s", self.label, "; ".join(keys.skipped))


def discovery_url(issuer: str) -> str:
    """Where an OpenID issuer publishes its configuration (OpenID Connect Discovery §4)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def discovered_jwks_uri(document: bytes, issuer: str) -> str:
    """The ``jwks_uri`` of a discovery document whose ``issuer`` is ``issuer``."""
    try:
        config = json.loads(document)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwksError("the discovery document is not JSON") from exc
    if not isinstance(config, dict):
        raise JwksError("the discovery document is not a JSON object")
    if config.get("issuer") != issuer:
        raise JwksError(f"the discovery document names another issuer ({config.get('issuer')!r})")
    uri = config.get("jwks_uri")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
        raise JwksError("the discovery document has no http(s) jwks_uri")
    return uri


def jwks_key(url: str) -> StateKey[JwksCache]:
    return StateKey("jwks", url)


def jwks_cache(state: SharedState, url: str, label: str, issuer: str | None = None) -> JwksCache:
    """The cache of ``url`` in ``services.state``, made on first use; with ``issuer``, ``url``
    is that issuer's discovery document."""
    found = state.get(jwks_key(url))
    if found is None:
        found = state[jwks_key(url)] = JwksCache(url, label, issuer=issuer)
    return found
