"""API keys: an ``ik_…`` key of a Consumer, checked in memory against the key ring.

The key comes from the route's header (``X-Api-Key`` unless the route names another), from its
query parameter when it names one, or as ``Authorization: Bearer ik_…``. It must be known,
unrevoked and unexpired, and its Consumer must still be in the estate; the Consumer's scopes
in the estate are the scopes the caller holds.
"""

from __future__ import annotations

from collections.abc import Mapping

from interlink.estate.kinds.gateway import ApiKeyAuth
from interlink.gateway.auth.credentials import Credentials, query_param
from interlink.gateway.auth.identity import Identity
from interlink.gateway.request import Request
from interlink.store.base import KEY_PREFIX
from interlink.store.keyring import KeyRing

METHOD = "apiKey"


class ApiKeyMethod:
    def __init__(
        self, spec: ApiKeyAuth, keyring: KeyRing, identities: Mapping[str, Identity]
    ) -> None:
        self.header = spec.header.lower().encode("latin-1")
        self.query = spec.query.encode("utf-8") if spec.query else None
        self.keyring = keyring
        self.identities = identities  # Consumer name → its Identity, built once per estate
        self.challenge = f'ApiKey realm="interlink", header="{spec.header}"'.encode("latin-1")

    def authenticate(self, request: Request, creds: Credentials) -> Identity | str | None:
        """The caller's Identity; a reason when a key was presented and refused; None when
        the request carries no key."""
        key = creds.header(self.header)
        if key is None and self.query is not None:
            key, rest = query_param(request.query, self.query)
            if key is not None:
                request.query = rest  # the key is a credential: never forwarded
        if key is None and creds.bearer is not None and creds.bearer.startswith(KEY_PREFIX):
            key = creds.bearer
        if key is None:
            return None
        found = self.keyring.verify(key)
        if found is None:
            return "unknown, revoked or expired API key"
        identity = self.identities.get(found.consumer)
        if identity is None:
            return f"the API key's Consumer {found.consumer} is not in the estate"
        return identity
