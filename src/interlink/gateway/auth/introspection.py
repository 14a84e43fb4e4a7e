"""Opaque bearer tokens checked with the identity provider that issued them (RFC 7662).

The token is POSTed (form ``token``, ``token_type_hint=access_token``) to the route's
introspection URL, the gateway authenticating as a client with HTTP Basic. The answer admits the
caller when ``active`` is true, its ``exp`` (if any) is not past, and its ``consumerClaim``
(``client_id`` unless the route says otherwise) names a Consumer; the caller holds the answer's
``scope``. An active answer is reused until the token's ``exp`` or ``cache`` seconds, whichever
comes first (at most ``CACHE_SIZE`` tokens); refusals are not remembered, so a token the
provider starts accepting works at once. A provider that does not answer (within ``TIMEOUT``)
admits nobody.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final
from urllib.parse import quote

import httpx

from interlink.estate.kinds.gateway import IntrospectionAuth
from interlink.gateway.auth.credentials import Credentials
from interlink.gateway.auth.identity import Identity, identity
from interlink.gateway.auth.jws import scopes_of
from interlink.gateway.request import Request
from interlink.store.base import KEY_PREFIX

log = logging.getLogger("interlink.gateway")

METHOD = "introspection"
CACHE_SIZE: Final = 4096
TIMEOUT: Final = 5.0
MAX_BYTES: Final = 64 * 1024


class IntrospectionMethod:
    def __init__(
        self,
        spec: IntrospectionAuth,
        url: str,
        client_secret: str,
        consumers: Mapping[str, object],
        clock: Callable[[], float],
    ) -> None:
        self.url = url
        # RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic.
        self.auth = httpx.BasicAuth(quote(spec.client_id, safe=""), quote(client_secret, safe=""))
        self.claim = spec.consumer_claim
        self.cache_for = float(spec.cache)
        self.consumers = consumers
        self.clock = clock
        self.challenge = b'Bearer realm="interlink"'
        self._cache: dict[str, tuple[Identity, float]] = {}  # token → (identity, reuse until)
        self._failing = False

    def authenticate(
        self, request: Request, creds: Credentials
    ) -> Identity | str | Awaitable[Identity | str] | None:
        token = creds.bearer
        if token is None or token.startswith(KEY_PREFIX):
            return None
        cached = self._cache.get(token)
        if cached is not None:
            if self.clock() < cached[1]:
                return cached[0]
            del self._cache[token]
        return self._introspect(token)

    async def _introspect(self, token: str) -> Identity | str:
        answer = await self._ask(token)
        if isinstance(answer, str):
            return answer
        if answer.get("active") is not True:
            return "token is not active"
        now = self.clock()
        exp = answer.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool) and now >= exp:
            return "token expired"
        name = answer.get(self.claim)
        if not isinstance(name, str) or name not in self.consumers:
            return f"the token's {self.claim} names no Consumer"
        subject = answer.get("sub")
        found = identity(
            name, scopes_of(answer), METHOD, subject if isinstance(subject, str) else None
        )
        until = now + self.cache_for
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            until = min(until, float(exp))
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[token] = (found, until)
        return found

    async def _ask(self, token: str) -> dict[str, Any] | str:
        """The provider's answer, or why there is none (logged once a streak, never the token)."""
        form = {"token": token, "token_type_hint": "access_token"}
        try:
            async with (
                asyncio.timeout(TIMEOUT),
                httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client,
            ):
                response = await client.post(
                    self.url, data=form, auth=self.auth, headers={"accept": "application/json"}
                )
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            if len(response.content) > MAX_BYTES:
                raise ValueError(f"an answer larger than {MAX_BYTES // 1024} KiB")
            answer = response.json()
            if not isinstance(answer, dict):
                raise ValueError("the answer is not a JSON object")
        except (TimeoutError, httpx.HTTPError, ValueError) as exc:
            if not self._failing:
                self._failing = True
                log.warning("token introspection at %s failed: %s", self.url, exc or type(exc))
            return "the token could not be introspected"
        if self._failing:
            self._failing = False
            log.info("token introspection at %s answers again", self.url)
        return answer
