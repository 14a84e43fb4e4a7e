"""Request bodies read with a cap: refused past the limit before more of them is read."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request


async def read_capped(
    request: Request, limit: int, too_large: Callable[[int | None], Exception]
) -> bytes:
    """The body of ``request``, or ``too_large(declared size or None)`` raised past ``limit``
    bytes: at once when Content-Length says so, else as soon as the stream passes it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(None)
    return bytes(body)
