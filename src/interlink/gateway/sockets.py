"""Listening sockets, bound before anything else starts so a busy port is one clear error."""

from __future__ import annotations

import errno
import socket

from interlink.errors import ServeError
from interlink.http.listen import parse_listen

BACKLOG = 2048


def bind(listen: str, *, reuse_port: bool = False, backlog: int | None = BACKLOG) -> socket.socket:
    """A socket bound to HOST:PORT; listening unless ``backlog`` is None.

    With ``reuse_port`` several processes bind the same port and the kernel spreads new
    connections over their listening sockets (SO_REUSEPORT).
    """
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ServeError(f"cannot listen on {listen}: {reason}") from exc
    if backlog is not None:
        sock.listen(backlog)
    sock.setblocking(False)
    return sock


def bound_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
