"""JSON pointers (RFC 6901) as they appear in ``$ref`` fragments and in report locations.

Report pointers are written ``#/a/b`` with ``~0``/``~1`` escaping and no percent-encoding, so a
path template such as ``/customers/{id}`` reads as ``~1customers~1{id}``.
"""

from __future__ import annotations

from urllib.parse import unquote


def escape(token: str) -> str:
    """Escape one reference token: ``~`` becomes ``~0`` and ``/`` becomes ``~1``."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """Undo :func:`escape`; ``~1`` is replaced first so ``~01`` stays ``~1``."""
    return token.replace("~1", "/").replace("~0", "~")


def join(pointer: str, *tokens: str | int) -> str:
    """Append tokens to a ``#``-prefixed pointer, escaping each."""
    return pointer + "".join("/" + escape(str(token)) for token in tokens)


def split(pointer: str) -> list[str]:
    """Split a ``#/a/b`` (or ``/a/b``) pointer into unescaped tokens."""
    body = pointer[1:] if pointer.startswith("#") else pointer
    if not body:
        return []
    return [unescape(token) for token in body.split("/")[1:]]


def fragment_tokens(fragment: str) -> list[str]:
    """Tokens of a URI fragment: percent-decoded first, then ``~`` unescaped per token."""
    decoded = unquote(fragment)
    if not decoded:
        return []
    return [unescape(token) for token in decoded.split("/")[1:]]


def from_tokens(tokens: list[str]) -> str:
    """Build a ``#``-prefixed pointer from unescaped tokens."""
    return join("#", *tokens)
