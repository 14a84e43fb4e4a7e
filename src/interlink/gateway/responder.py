"""What a request handler calls on the client connection it answers.

:class:`~interlink.gateway.protocol.HttpProtocol` is the one implementation; the handlers (the
proxy, a REST-to-event route, ``/events``) are typed with this protocol instead, so they need
nothing of how a connection parses, queues or times out.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from interlink.gateway.request import Request
from interlink.http.headers import Headers


class Responder(Protocol):
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    def respond(
        self,
        req: Request,
        status: int,
        headers: Headers,
        body: bytes = b"",
        *,
        length: int | None = None,
    ) -> None:
        """The whole response in one write. ``length`` overrides len(body) (HEAD answers)."""

    def send_problem(
        self,
        req: Request,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: Headers | None = None,
        **extra: Any,
    ) -> None:
        """An RFC 9457 answer; ``instance`` is the request id."""

    def start(self, req: Request, status: int, headers: Headers, length: int | None) -> None:
        """Write the head; the body follows through :meth:`write` and :meth:`end`."""

    def write(self, chunk: bytes) -> None: ...

    def end(self) -> None: ...

    @property
    def write_paused(self) -> bool:
        """The client is behind in reading: :meth:`drain` before writing more."""

    async def drain(self) -> None:
        """Wait while the client is behind in reading; raises ClientGone if it left."""
