"""Who a request comes from, once a route's authentication admitted it.

The policy puts the :class:`Identity` on ``request.identity``; later policies (plans) read the
Consumer from it, and the forwarding headers tell the upstream who called (``x-consumer``,
``x-consumer-scopes``, ``x-auth-method``). Those header names belong to the gateway: whatever
a client sends under them is never forwarded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from interlink.http.headers import Headers

CONSUMER_HEADER = b"x-consumer"
SCOPES_HEADER = b"x-consumer-scopes"
METHOD_HEADER = b"x-auth-method"
IDENTITY_HEADERS = frozenset({CONSUMER_HEADER, SCOPES_HEADER, METHOD_HEADER})


@dataclass(frozen=True, slots=True)
class Identity:
    consumer: str  # the name of a Consumer in the estate
    scopes: frozenset[str]
    method: str  # "apiKey" or "jwt"
    subject: str | None = None  # the token's `sub`, for JWT
    headers: Headers = field(default_factory=list, compare=False)  # built by `identity()`

    def missing(self, required: frozenset[str]) -> list[str]:
        """The required scopes this identity does not hold, sorted."""
        return sorted(required - self.scopes) if required else []


def identity(
    consumer: str, scopes: Iterable[str], method: str, subject: str | None = None
) -> Identity:
    """An Identity with its upstream headers built once."""
    held = frozenset(scopes)
    headers: Headers = [
        (CONSUMER_HEADER, consumer.encode("utf-8")),
        (SCOPES_HEADER, " ".join(sorted(held)).encode("utf-8")),
        (METHOD_HEADER, method.encode("ascii")),
    ]
    return Identity(consumer, held, method, subject, headers)


def identities(scopes_of: Iterable[tuple[str, Iterable[str]]], method: str) -> dict[str, Identity]:
    """The Identity of each (consumer, scopes), by consumer, as :func:`identity` makes them,
    except that consumers holding the same scopes share the set and its header, and all share
    the method's header: for ten thousand Consumers that is megabytes less."""
    method_header = (METHOD_HEADER, method.encode("ascii"))
    shared: dict[frozenset[str], tuple[frozenset[str], tuple[bytes, bytes]]] = {}
    out: dict[str, Identity] = {}
    for consumer, scopes in scopes_of:
        held = frozenset(scopes)
        found = shared.get(held)
        if found is None:
            found = shared[held] = (held, (SCOPES_HEADER, " ".join(sorted(held)).encode("utf-8")))
        held, scopes_header = found
        headers: Headers = [
            (CONSUMER_HEADER, consumer.encode("utf-8")),
            scopes_header,
            method_header,
        ]
        out[consumer] = Identity(consumer, held, method, None, headers)
    return out
