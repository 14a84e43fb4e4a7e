"""JWT bearer tokens: signature, claims, and the Consumer the token names.

The token's ``consumerClaim`` (``sub`` unless the route says otherwise, ``azp`` or
``client_id`` are common choices) must name a Consumer in the estate. The scopes the caller
holds are the token's own (``scope`` and ``scp``): the issuer decides them.

HS256 tokens are checked with the route's shared secret; RS256 and ES256 tokens with the key
their ``kid`` names in the route's JWKS (:mod:`interlink.gateway.auth.jwks`), whose type must
be the algorithm's. A token that passed is remembered, by its text, until it expires (at most
``CACHE_SIZE`` tokens), so a client presenting the same token again costs one dictionary lookup
plus the time checks, not a signature and two JSON documents. When the JWKS changes, the
remembered tokens are forgotten: a key the issuer withdrew admits nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol

from interlink.estate.kinds.gateway import JwtAuth
from interlink.gateway.auth.credentials import Credentials
from interlink.gateway.auth.identity import Identity, identity
from interlink.gateway.auth.jwks import Jwk
from interlink.gateway.auth.jws import (
    ClaimRules,
    InvalidToken,
    check_claims,
    parse,
    scopes_of,
    verify_hs256,
    verify_public,
)
from interlink.gateway.request import Request
from interlink.store.base import KEY_PREFIX

METHOD = "jwt"
CACHE_SIZE: Final = 4096


class KeySource(Protocol):
    """Where RS256 and ES256 keys come from: a route's JWKS URL, or the platform's own keys."""

    generation: int  # moves whenever the keys change

    def tick(self) -> None: ...

    async def key_for(self, kid: str | None) -> Jwk | str: ...


class JwtMethod:
    def __init__(
        self,
        spec: JwtAuth,
        consumers: Mapping[str, object],
        clock: Callable[[], float],
        hs256_key: bytes | None,
        jwks: KeySource | None = None,
        method: str = METHOD,
    ) -> None:
        self.algorithms = frozenset(spec.algorithms)
        self.rules = ClaimRules(spec.issuer, frozenset(spec.audiences), float(spec.leeway))
        self.claim = spec.consumer_claim
        self.consumers = consumers
        self.clock = clock
        self.method = method
        self.hs256_key = hs256_key
        self.jwks = jwks  # the keys of RS256 and ES256 tokens
        self._generation = jwks.generation if jwks is not None else 0
        self.challenge = b'Bearer realm="interlink"'
        # token → (identity, exp, nbf): tokens that passed, until they expire
        self._cache: dict[str, tuple[Identity, float, float | None]] = {}

    def authenticate(
        self, request: Request, creds: Credentials
    ) -> Identity | str | Awaitable[Identity | str] | None:
        """A token seen before is decided at once; a new one is verified, which may wait for
        the issuer's keys."""
        token = creds.bearer
        if token is None or token.startswith(KEY_PREFIX):
            return None
        now = self.clock()
        leeway = self.rules.leeway
        jwks = self.jwks
        if jwks is not None:
            jwks.tick()
            if jwks.generation != self._generation:
                self._cache.clear()  # the issuer's keys changed: check every token again
                self._generation = jwks.generation
        cached = self._cache.get(token)
        if cached is not None:
            found, exp, nbf = cached
            if now > exp + leeway:
                del self._cache[token]
                return "token expired"
            if nbf is None or now >= nbf - leeway:
                return found
        return self._checked(token, now)

    async def _checked(self, token: str, now: float) -> Identity | str:
        try:
            return await self._verify(token, now)
        except InvalidToken as exc:
            return str(exc)

    async def _verify(self, token: str, now: float) -> Identity | str:
        jws = parse(token)
        alg = jws.alg
        if alg not in self.algorithms:
            raise InvalidToken(f"token algorithm {alg} is not accepted here")
        claims = jws.claims
        exp = check_claims(claims, self.rules, now)  # before any key work: cheap, and no fetch
        if alg == "HS256" and self.hs256_key is not None:
            verify_hs256(jws, self.hs256_key)
        elif alg in ("RS256", "ES256") and self.jwks is not None:
            key = await self.jwks.key_for(jws.kid)
            if isinstance(key, str):
                raise InvalidToken(key)
            verify_public(jws, key.alg, key.key)
        else:  # compile_policies refuses routes listing algorithms it cannot verify
            raise InvalidToken(f"token algorithm {alg} cannot be verified")
        name = claims.get(self.claim)
        if not isinstance(name, str) or name not in self.consumers:
            return f"the token's {self.claim} names no Consumer"
        subject = claims.get("sub")
        found = identity(
            name, scopes_of(claims), self.method, subject if isinstance(subject, str) else None
        )
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        nbf = claims.get("nbf")
        self._cache[token] = (found, exp, float(nbf) if isinstance(nbf, int | float) else None)
        return found
