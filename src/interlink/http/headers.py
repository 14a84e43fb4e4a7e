"""Header rules shared by the server and the client side of a proxy (RFC 9110 §7.6.1)."""

from __future__ import annotations

from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]

# Hop-by-hop: they describe one connection, so a proxy never forwards them. Keep-Alive,
# Proxy-Connection and the proxy credentials are not in RFC 9110's list but are treated the same
# way by every proxy, and Transfer-Encoding belongs to the framing each side sets for itself.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


def connection_tokens(values: Iterable[bytes]) -> frozenset[bytes]:
    """Header names listed in Connection headers: also hop-by-hop for this message."""
    tokens: set[bytes] = set()
    for value in values:
        for part in value.split(b","):
            token = part.strip().lower()
            if token:
                tokens.add(token)
    return frozenset(tokens)


def get(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of ``name`` (lower-case), comparing names case-insensitively."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
