"""Client assertions at the gateway's token endpoint: ``private_key_jwt`` (RFC 7523 §2.2, §3).

A Consumer that declares a ``private_key_jwt`` credential (a PEM public key, or a JWKS URL)
may authenticate at ``POST /oauth/token`` with a JWT it signed instead of an API key. The
assertion is accepted when:

- it is a compact JWS signed with RS256 or ES256 by one of the Consumer's keys (a JWKS is
  fetched and kept as a route's keys are, ``jwks.py``; a ``kid`` picks the key);
- ``iss`` and ``sub`` are both the Consumer's name (and the form's ``client_id``, if sent);
- ``aud`` names the token endpoint's URL (``<issuer>/oauth/token``) or the issuer;
- ``exp`` is present, not past (30 s of leeway) and at most ``MAX_LIFETIME`` ahead; ``nbf`` is
  honoured;
- its ``jti`` was not used before: each is kept until the assertion expires, in the store
  (shared by every node) or, without one, in this process.

Anything else is refused with the reason, which the endpoint answers as ``invalid_client``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol

from interlink.errors import ConfigError
from interlink.estate.kinds import Consumer
from interlink.estate.kinds.gateway import PrivateKeyJwtCredential
from interlink.estate.references import resolve
from interlink.gateway.auth.jwks import Jwk, jwks_cache
from interlink.gateway.auth.jws import (
    ClaimRules,
    InvalidToken,
    Jws,
    check_claims,
    parse,
    verify_public,
)
from interlink.gateway.state import SharedState

if TYPE_CHECKING:
    from interlink.gateway.auth.jwt import KeySource
    from interlink.store import Store

log = logging.getLogger("interlink.gateway")

MAX_LIFETIME: Final = 3600.0  # seconds an assertion may reach ahead: what its jti is kept for
LEEWAY: Final = 30.0
MAX_JTI: Final = 256


class AssertionRefused(Exception):
    """The assertion does not authenticate its client; the message says why."""


class PublicKey:
    """A Consumer's key given as PEM: the key source of one key, without a kid."""

    generation = 0  # never changes

    def __init__(self, pem: str) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        key = serialization.load_pem_public_key(pem.encode("utf-8"))
        if isinstance(key, rsa.RSAPublicKey):
            self.jwk = Jwk(None, "RS256", key)
        else:  # the estate admits RSA and P-256 keys only
            assert isinstance(key, ec.EllipticCurvePublicKey)
            self.jwk = Jwk(None, "ES256", key)

    def tick(self) -> None:
        """Nothing to refresh."""

    async def key_for(self, kid: str | None) -> Jwk | str:
        return self.jwk


class Replays(Protocol):
    async def remember(self, consumer: str, jti: str, expires: float) -> bool:
        """Keep ``jti`` until ``expires`` (epoch seconds); False when it is kept already."""


class StoreReplays:
    """The jtis in the store: every node of the cluster sees every other's."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def remember(self, consumer: str, jti: str, expires: float) -> bool:
        until = datetime.fromtimestamp(expires, UTC)
        return await asyncio.to_thread(self.store.client_assertions.remember, consumer, jti, until)


class MemoryReplays:
    """The jtis in this process (a gateway without a store: one node)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.seen: dict[tuple[str, str], float] = {}

    async def remember(self, consumer: str, jti: str, expires: float) -> bool:
        now = self.clock()
        if len(self.seen) > 1024:
            self.seen = {k: v for k, v in self.seen.items() if v >= now}
        held = self.seen.get((consumer, jti))
        if held is not None and held >= now:
            return False
        self.seen[(consumer, jti)] = expires
        return True


class AssertionVerifier:
    def __init__(
        self,
        audiences: frozenset[str],
        keys: Mapping[str, Sequence[KeySource]],
        replays: Replays,
        clock: Callable[[], float],
    ) -> None:
        self.audiences = audiences  # the token endpoint's URL and the issuer
        self.keys = keys  # Consumer name → its key sources
        self.replays = replays
        self.clock = clock

    async def consumer(self, assertion: str, client_id: str | None) -> str:
        """The Consumer ``assertion`` authenticates; AssertionRefused says why not."""
        try:
            jws = parse(assertion)
        except InvalidToken as exc:
            raise AssertionRefused(f"the client assertion is not a JWT ({exc})") from None
        subject = jws.claims.get("sub")
        if not isinstance(subject, str) or jws.claims.get("iss") != subject:
            raise AssertionRefused("the client assertion's iss and sub must both be the client id")
        if client_id is not None and client_id != subject:
            raise AssertionRefused("client_id is not the client assertion's sub")
        sources = self.keys.get(subject)
        if not sources:
            raise AssertionRefused("unknown client, or it declares no private_key_jwt key")
        await self._verify(jws, sources)
        now = self.clock()
        try:
            exp = check_claims(jws.claims, ClaimRules(subject, self.audiences, LEEWAY), now)
        except InvalidToken as exc:
            raise AssertionRefused(f"client assertion refused: {_assertion(exc)}") from None
        if exp - now > MAX_LIFETIME:
            raise AssertionRefused(
                f"the client assertion expires more than {MAX_LIFETIME:g} s from now"
            )
        jti = jws.claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
            raise AssertionRefused("the client assertion has no jti (at most 256 characters)")
        if not await self.replays.remember(subject, jti, exp + LEEWAY):
            raise AssertionRefused("the client assertion was used already (its jti)")
        return subject

    async def _verify(self, jws: Jws, sources: Sequence[KeySource]) -> None:
        if jws.alg not in ("RS256", "ES256"):
            raise AssertionRefused(f"client assertion algorithm {jws.alg} is not RS256 or ES256")
        why = "no key"
        for source in sources:
            source.tick()
            found = await source.key_for(jws.kid)
            if isinstance(found, str):
                why = found
                continue
            try:
                verify_public(jws, found.alg, found.key)
            except InvalidToken as exc:
                why = str(exc)
                continue
            return
        raise AssertionRefused(f"client assertion refused: {_assertion(why)}")


def _assertion(reason: object) -> str:
    """The JWT checks speak of a token; here it is the client's assertion."""
    return str(reason).replace("token", "assertion")


def compile_verifier(
    consumers: Sequence[Consumer],
    audiences: frozenset[str],
    state: SharedState,
    store: Store | None,
    clock: Callable[[], float],
) -> AssertionVerifier | None:
    """The verifier of the Consumers that declare private_key_jwt keys; None when none does."""
    keys: dict[str, list[KeySource]] = {}
    for consumer in consumers:
        for credential in consumer.spec.credentials:
            if not isinstance(credential, PrivateKeyJwtCredential):
                continue
            if credential.public_key is not None:
                keys.setdefault(consumer.name, []).append(PublicKey(credential.public_key))
                continue
            assert credential.jwks_url is not None
            try:
                url = resolve(credential.jwks_url)
            except ConfigError as exc:
                log.warning("Consumer %s: its jwksUrl is left out: %s", consumer.name, exc.message)
                continue
            cache = jwks_cache(state, url, credential.jwks_url)
            keys.setdefault(consumer.name, []).append(cache)
    if not keys:
        return None
    replays: Replays = StoreReplays(store) if store is not None else MemoryReplays(clock)
    return AssertionVerifier(audiences, keys, replays, clock)
