"""The event ingress on a private Unix socket, for the gateway worker processes.

With ``--workers N`` the gateway's workers have no event mesh of their own: the bus and the
delivery queue stay in the `interlink serve` process (the embedded log has a single writer).
That process serves its :class:`~interlink.events.ingress.EventIngress` here, with the
gateway's own HTTP server, and each worker forwards to it
(:mod:`interlink.gateway.workers.event_link`):

- ``/events…`` exactly as with one worker: the ingress authenticates, validates, deduplicates
  and answers; the body limits are the Platform's.
- ``POST /_interlink/publish``: the data of a REST-to-event route, whose policies already ran
  in the worker; what the event is (type, id, source, time) comes in ``interlink-*`` headers.

Nothing else is served. The socket lives in a fresh directory only this user may enter (0700),
and is itself 0600: no TCP port, and no other local user can reach it. The client address a
request is logged under is the last hop of its ``X-Forwarded-For``, which the worker appended.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable
from dataclasses import replace
from typing import Final
from urllib.parse import unquote

from interlink.errors import ServeError
from interlink.events.ingress import EventIngress
from interlink.gateway.config import GatewayConfig
from interlink.gateway.connection_limits import Limits
from interlink.gateway.protocol import HttpProtocol
from interlink.gateway.request import Request
from interlink.gateway.routing import Router
from interlink.gateway.server import GatewayServer
from interlink.gateway.sockets import BACKLOG
from interlink.gateway.workers.event_link import META_PREFIX, PUBLISH_PATH
from interlink.gateway.workers.private_dir import make_private_dir, remove_private_dir
from interlink.http.streams import BodyError

log = logging.getLogger("interlink.gateway")

SOCKET_NAME: Final = "ingress.sock"
# Room for what the worker adds to a request's head (X-Forwarded-*, Forwarded, traceparent,
# Via), so a request that fits the gateway's limits also fits here.
HEAD_ALLOWANCE: Final = 8192
FIELDS_ALLOWANCE: Final = 16
_REQUIRED: Final = ("event-type", "event-id", "event-source")


def socket_limits(limits: Limits) -> Limits:
    return replace(
        limits,
        max_header_bytes=limits.max_header_bytes + HEAD_ALLOWANCE,
        max_headers=limits.max_headers + FIELDS_ALLOWANCE,
    )


class IngressServer(GatewayServer):
    """The gateway's HTTP server with no routes: ``/events…`` and the publish path only."""

    def __init__(self, ingress: EventIngress, limits: Limits) -> None:
        super().__init__(_no_routes(limits), events=ingress)
        self.ingress = ingress

    def handle(self, request: Request, conn: HttpProtocol) -> Awaitable[None]:
        forwarded = request.special.get(b"x-forwarded-for")
        if forwarded:
            request.client = forwarded.rsplit(b",", 1)[-1].strip().decode("latin-1")
        if request.reject is None and request.path == PUBLISH_PATH:
            return self._publish(request, conn)
        return super().handle(request, conn)  # /events…; anything else is a 404

    def update_limits(self, limits: Limits) -> None:
        self.update(_no_routes(limits))

    async def _publish(self, request: Request, conn: HttpProtocol) -> None:
        meta: dict[str, str] = {}
        for name, value in request.headers:
            if name.startswith(META_PREFIX):
                meta[name[len(META_PREFIX) :].decode("latin-1")] = unquote(value.decode("latin-1"))
        missing = [f"{META_PREFIX.decode()}{m}" for m in _REQUIRED if m not in meta]
        if request.method != "POST" or missing:
            conn.send_problem(request, 400, f"a publish needs POST and {', '.join(_REQUIRED)}")
            return
        try:
            body = await _read(request)
        except BodyError as exc:
            conn.send_problem(request, exc.status, exc.message, title=exc.title)
            return
        reply = await self.ingress.publish_data(
            meta["event-type"],
            body,
            id=meta["event-id"],
            source=meta["event-source"],
            time=meta.get("event-time"),
            request_id=meta.get("request-id", ""),
            data_pointer=meta.get("data-pointer", "/data"),
            traceparent=meta.get("traceparent"),
        )
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        conn.respond(request, reply.status, headers, reply.body)


class IngressSocket:
    """:class:`IngressServer` on a Unix socket in a private directory, made and removed here."""

    def __init__(self, ingress: EventIngress, limits: Limits) -> None:
        self.server = IngressServer(ingress, socket_limits(limits))
        self.directory: str | None = None

    @property
    def path(self) -> str:
        assert self.directory is not None, "start() first"
        return os.path.join(self.directory, SOCKET_NAME)

    async def start(self) -> str:
        """Listen; returns the socket's path."""
        try:
            self.directory = make_private_dir("ingress")  # 0700, this user's alone
        except OSError as exc:
            reason = f"cannot make a private directory for the event ingress: {exc}"
            raise ServeError(reason) from exc
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.path)
            os.chmod(self.path, 0o600)
            sock.listen(BACKLOG)
            sock.setblocking(False)
            await self.server.start(sock)
        except BaseException as exc:
            sock.close()
            path = self.path
            self._remove()
            if isinstance(exc, OSError):
                raise ServeError(f"cannot serve the event ingress on {path}: {exc}") from exc
            raise
        log.debug("event ingress for the gateway workers on %s", self.path)
        return self.path

    def update(self, limits: Limits) -> None:
        self.server.update_limits(socket_limits(limits))

    async def stop(self) -> None:
        """Let open requests finish, then remove the socket and its directory."""
        if self.directory is None:
            return
        await self.server.stop()
        self._remove()

    def _remove(self) -> None:
        directory, self.directory = self.directory, None
        remove_private_dir(directory)


def _no_routes(limits: Limits) -> GatewayConfig:
    return GatewayConfig(Router([]), (), (), limits)


async def _read(request: Request) -> bytes:
    body = request.body
    if body is None:
        return b""
    if body.complete:
        return body.take()
    return b"".join([chunk async for chunk in body])


__all__ = ["IngressServer", "IngressSocket", "socket_limits"]
