"""Who may publish which event types: Consumer API keys with scopes, or admin tokens.

A Consumer key (``x-api-key: ik_…`` or ``authorization: Bearer ik_…``) may publish a type when
the Consumer's scopes in the estate include ``events:publish:<type>`` or ``events:publish:*``.
An admin token (``authorization: Bearer il_…``) with the operator or admin role may publish
any type; an operator token of one Team only the types that Team owns (the Event's owner, else
its System's). Keys are checked in memory (:class:`~interlink.store.keyring.KeyRing`); admin tokens
hit the store, so their verdicts are cached briefly by digest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from interlink.errors import AuthError, Forbidden
from interlink.estate.kinds import Consumer
from interlink.estate.model import Estate
from interlink.store import Store, TokenInfo, role_allows
from interlink.store.base import KEY_PREFIX, TOKEN_PREFIX, token_digest
from interlink.store.keyring import KeyRing

SCOPE_PREFIX: Final = "events:publish:"
_TOKEN_TTL: Final = 10.0
_TOKEN_CACHE_SIZE: Final = 1024


def credential(headers: Mapping[str, str]) -> str | None:
    """The presented secret: ``x-api-key``, else a bearer token."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def may_publish(scopes: Iterable[str], event_type: str) -> bool:
    wanted = SCOPE_PREFIX + event_type
    return any(scope in (wanted, SCOPE_PREFIX + "*") for scope in scopes)


@dataclass(frozen=True)
class Principal:
    """Who publishes: ``scopes`` None means every type (an admin token)."""

    name: str
    scopes: tuple[str, ...] | None


class PublishAuth:
    def __init__(self, keyring: KeyRing, store: Store, estate: Callable[[], Estate]) -> None:
        self._keyring = keyring
        self._store = store
        self._estate = estate
        self._tokens: dict[str, tuple[float, TokenInfo | None]] = {}

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """Who presents the request's credential; ``AuthError`` (401) or ``Forbidden`` (403)."""
        secret = credential(headers)
        if secret is None:
            raise AuthError("publishing events needs a Consumer API key or an admin token")
        if secret.startswith(KEY_PREFIX):
            key = self._keyring.verify(secret)
            if key is None:
                raise AuthError("unknown, revoked or expired API key")
            loaded = self._estate().get("Consumer", key.consumer)
            if loaded is None or not isinstance(loaded.obj, Consumer):
                raise Forbidden(f"consumer {key.consumer} is no longer in the estate")
            return Principal(f"consumer:{key.consumer}", tuple(loaded.obj.spec.scopes))
        if secret.startswith(TOKEN_PREFIX):
            info = await self._admin(secret)
            if info is None:
                raise AuthError("unknown or revoked admin token")
            if not role_allows(info.role, "operator"):
                raise Forbidden(
                    f"admin token {info.id} has role {info.role}; publishing needs operator"
                )
            if info.team is not None:  # a Team's operator publishes only its Team's events
                return Principal(f"admin:{info.name}", self._owned_events(info.team))
            return Principal(f"admin:{info.name}", None)
        raise AuthError("unrecognised credential: expected an ik_… key or an il_… admin token")

    @staticmethod
    def authorize(principal: Principal, types: Iterable[str]) -> None:
        """``Forbidden`` unless the principal may publish every type."""
        if principal.scopes is None:
            return
        denied = sorted(t for t in set(types) if not may_publish(principal.scopes, t))
        if denied:
            scopes = ", ".join(SCOPE_PREFIX + t for t in denied)
            raise Forbidden(f"{principal.name} lacks scope {scopes}")

    def _owned_events(self, team: str) -> tuple[str, ...]:
        estate = self._estate()
        return tuple(
            SCOPE_PREFIX + item.obj.name
            for item in estate.loaded_of("Event")
            if estate.owner_of(item.obj) == team
        )

    async def _admin(self, secret: str) -> TokenInfo | None:
        digest = token_digest(secret)
        now = time.monotonic()
        cached = self._tokens.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        info = await asyncio.to_thread(self._store.tokens.verify, secret)
        if len(self._tokens) >= _TOKEN_CACHE_SIZE:
            self._tokens.clear()
        self._tokens[digest] = (now + _TOKEN_TTL, info)
        return info
