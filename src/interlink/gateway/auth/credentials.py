"""Where a request carries its credentials: the route's API key header, its query parameter,
and ``Authorization: Bearer``. Read in one pass over the headers, for every method at once."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from interlink.gateway.request import Request

AUTHORIZATION = b"authorization"


@dataclass(slots=True)
class Credentials:
    headers: dict[bytes, bytes]  # the credential headers the route reads, as sent
    repeated: bytes | None  # a credential header sent more than once (then none is trusted)
    bearer: str | None  # the token of `Authorization: Bearer …`

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return value.decode("latin-1").strip() or None if value is not None else None


def read(request: Request, names: frozenset[bytes]) -> Credentials:
    found: dict[bytes, bytes] = {}
    repeated: bytes | None = None
    for name, value in request.headers:
        if name in names:
            if name in found:
                repeated = name
            found[name] = value
    bearer: str | None = None
    auth = found.get(AUTHORIZATION)
    if auth is not None:
        scheme, _, token = auth.decode("latin-1").strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            bearer = token.strip()
    return Credentials(found, repeated, bearer)


def query_param(query: bytes, name: bytes) -> tuple[str | None, bytes]:
    """The value of query parameter ``name`` (first one), and the query without it."""
    if not query or name not in query:
        return None, query
    value: str | None = None
    kept: list[bytes] = []
    for piece in query.split(b"&"):
        key, _, raw = piece.partition(b"=")
        if unquote_to_bytes(key.replace(b"+", b" ")) == name:
            if value is None:
                value = unquote_to_bytes(raw.replace(b"+", b" ")).decode("latin-1")
            continue
        kept.append(piece)
    return value, b"&".join(kept)
