"""`interlink serve`: the components in one asyncio process, with reloads and clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from collections.abc import Callable, Iterator

import uvicorn

from interlink.admin.app import create_app
from interlink.errors import ServeError
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import parse_listen

log = logging.getLogger("interlink.serve")


def bind(listen: str) -> socket.socket:
    """Bind the listening socket ourselves, so a busy port is one clear error, not a crash."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ServeError(f"cannot listen on {listen}: {reason}") from exc
    sock.listen(512)
    sock.setblocking(False)
    return sock


def bound_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Server(uvicorn.Server):
    """Uvicorn re-raises the signal that stopped it; we handle signals ourselves instead, so a
    graceful stop exits 0 and SIGHUP can share the same loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    runtime: Runtime, admin_sock: socket.socket, on_ready: Callable[[], None] | None = None
) -> None:
    """Run until SIGTERM/SIGINT; reload on SIGHUP and, with --watch, on file changes."""
    config = uvicorn.Config(
        create_app(runtime),
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()

    def stop(sig: signal.Signals) -> None:
        if server.should_exit:  # a second Ctrl-C: stop waiting for open connections
            server.force_exit = True
        log.info("%s received: shutting down", sig.name)
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    tasks: set[asyncio.Task[object]] = set()

    def reload(source: str) -> None:
        task = loop.create_task(runtime.reload(source))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop.add_signal_handler(signal.SIGHUP, reload, "sighup")
    watcher = loop.create_task(_watch(runtime, reload)) if runtime.settings.watch else None
    ready = loop.create_task(_announce(server, on_ready))
    try:
        await server.serve(sockets=[admin_sock])
    finally:
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        for task in (watcher, ready, *tasks):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        log.info("stopped")


async def _announce(server: uvicorn.Server, on_ready: Callable[[], None] | None) -> None:
    while not server.started:
        await asyncio.sleep(0.02)
    if on_ready is not None:
        on_ready()


async def _watch(runtime: Runtime, reload: Callable[[str], None]) -> None:
    """Reload on estate or contract file changes, debounced by watchfiles."""
    from watchfiles import awatch

    root = runtime.settings.estate_dir.resolve()
    async for changes in awatch(root, debounce=300, recursive=True):
        relevant = [
            p for _, p in changes if "/.interlink/" not in p and "/." not in p[len(str(root)) :]
        ]
        if relevant:
            reload("watch")
