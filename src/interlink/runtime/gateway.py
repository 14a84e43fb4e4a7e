"""The gateway as `interlink serve` runs it: on this event loop, or as supervised workers.

With one worker the gateway shares the process (and the snapshot) with the rest of the
runtime; each reload compiles its config in a worker thread and swaps it in. With several,
each worker process loads the running revision itself, through a link that follows it (the
estate directory, or a revision taken from the store), reloads on the SIGHUP forwarded to it, and
hands ``/events`` and REST-to-event requests to this process's event ingress, served to them on
a private Unix socket (``gateway/workers/ingress_socket.py``).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import tempfile
from pathlib import Path

from interlink.errors import ConfigError, ServeError
from interlink.events.ingress import EventIngress
from interlink.gateway.compiler import compile_gateway
from interlink.gateway.config import GatewayConfig
from interlink.gateway.connection_limits import Limits
from interlink.gateway.listener_tls import ListenerTls, follow_tls
from interlink.gateway.server import GatewayServer
from interlink.gateway.services import DEGRADED_KEY, GatewayServices
from interlink.gateway.shadow.mirror import flush_comparisons
from interlink.gateway.sockets import BACKLOG, bind, bound_address
from interlink.gateway.telemetry.observer import GatewayObserver
from interlink.gateway.telemetry.tracing import GatewayTracing
from interlink.gateway.workers.ingress_socket import IngressSocket
from interlink.gateway.workers.supervisor import Supervisor
from interlink.gateway.workers.worker import WorkerOptions
from interlink.observe import tracing
from interlink.runtime.platform_keys import NodePlatformKeys
from interlink.runtime.products import products_dir
from interlink.runtime.runtime import Runtime, store_url_for
from interlink.runtime.settings import ServeSettings
from interlink.runtime.snapshot import Snapshot

log = logging.getLogger("interlink.gateway")


def gateway_limits(settings: ServeSettings) -> Limits:
    """The limits that come from serve settings; the estate's Platform adds the byte limits."""
    return Limits(
        header_timeout=settings.gateway_header_timeout,
        keep_alive_timeout=settings.gateway_idle_timeout,
    )


def bind_gateway(runtime: Runtime) -> tuple[socket.socket, int]:
    """The gateway's socket, and the number of workers that will serve it.

    One worker listens on it directly. Several each bind the port with SO_REUSEPORT; then this
    socket is only bound, never listening, and holds the port for them.
    """
    settings = runtime.settings
    platform = runtime.snapshot.estate.platform.spec.gateway
    listen = settings.gateway_listen or platform.listen
    workers = settings.workers or platform.workers
    if workers > 1:
        return bind(listen, reuse_port=True, backlog=None), workers
    return bind(listen, backlog=BACKLOG), 1


class GatewayHost:
    def __init__(self, runtime: Runtime, sock: socket.socket, workers: int) -> None:
        self.runtime = runtime
        self.sock = sock
        self.workers = workers
        self.address = bound_address(sock)
        self.limits = gateway_limits(runtime.settings)
        self.server: GatewayServer | None = None
        self.supervisor: Supervisor | None = None
        self._config: GatewayConfig | None = None  # the config compiled last
        self.events: EventIngress | None = None  # the event mesh's ingress, served at /events
        self.ingress: IngressSocket | None = None  # that ingress for the workers (N > 1)
        self.services = GatewayServices(store=runtime.store, metrics=runtime.metrics)
        self.services.state[DEGRADED_KEY] = runtime.degraded  # e.g. the rate-limit store
        self._stop: asyncio.Task[None] | None = None
        self._links: Path | None = None  # the link the workers load the estate through (N > 1)
        self.platform_keys: NodePlatformKeys | None = None

    async def start(self) -> None:
        mesh = self.runtime.mesh
        if mesh is not None:
            self.services.keyring = mesh.keyring
            self.services.events = mesh.ingress
            # Tokens of the Platform's gateway.oauth: signed and checked with the store's keys.
            self.platform_keys = NodePlatformKeys(self.runtime)
            await self.platform_keys.start(mesh.keeper)
            self.services.platform_keys = self.platform_keys.ring
        if self.runtime.flows is not None:  # Routes that target a Flow start runs on it
            self.services.flows = self.runtime.flows.engine
        # Routes that serve a DataProduct query the node's (workers open their own, worker.py).
        self.services.products = self.runtime.products
        if self.runtime.lineage is not None:
            self.services.lineage = self.runtime.lineage.recorder
        traced = tracing.current()
        if traced is not None:  # the workers set up their own (worker.py)
            self.services.tracing = GatewayTracing(traced)
        config = await asyncio.to_thread(self._compile, self.runtime.snapshot)
        # Loaded here with several workers too: certificates that do not load stop the start.
        tls = await asyncio.to_thread(listener_tls, self.runtime.snapshot)
        if self.workers == 1:
            observer = GatewayObserver(self.services, access_log=self.runtime.settings.access_log)
            self.server = GatewayServer(config, events=self.events, observer=observer, tls=tls)
            await self.server.start(self.sock)
        else:
            self._links = Path(tempfile.mkdtemp(prefix="interlink-estate-"))
            if self.events is not None:  # before the workers, which forward /events to it
                self.ingress = IngressSocket(self.events, config.limits)
                await self.ingress.start()
            options = WorkerOptions(
                str(worker_estate_dir(self.runtime, self._links)),
                self.address,
                self.limits,
                self.runtime.settings.log_level,
                store_url_for(self.runtime.settings, self.runtime.snapshot),
                self.runtime.settings.access_log,
                ingress_socket=self.ingress.path if self.ingress is not None else None,
                products_dir=str(products_dir(self.runtime)),
            )
            self.supervisor = Supervisor(options, self.workers)
            await self.supervisor.start()
            self.runtime.metrics.add_collector(self.supervisor.metrics.collect)
        self.runtime.on_reload(self.reload)

    async def reload(self, snapshot: Snapshot) -> None:
        config = await asyncio.to_thread(self._compile, snapshot)
        if self.server is not None:
            self.server.update(config)
            await asyncio.to_thread(follow_tls, self.server.tls, snapshot.estate)
        if self.ingress is not None:
            self.ingress.update(config.limits)
        if self.supervisor is not None and self._links is not None:
            await asyncio.to_thread(worker_estate_dir, self.runtime, self._links)
            self.supervisor.reload()

    def stop(self) -> asyncio.Task[None]:
        """Begin a graceful stop (once); await the task to know when it is done."""
        if self._stop is None:
            self._stop = asyncio.get_running_loop().create_task(self._stopping())
        return self._stop

    async def _stopping(self) -> None:
        if self.server is not None:
            await self.server.stop()
            await asyncio.to_thread(flush_comparisons, self.services)
        if self.supervisor is not None:
            self.runtime.metrics.remove_collector(self.supervisor.metrics.collect)
            await self.supervisor.stop()
        if self.ingress is not None:  # after the workers, whose last requests may need it
            await self.ingress.stop()
        if self.platform_keys is not None:
            await self.platform_keys.close()
        if self._links is not None:
            shutil.rmtree(self._links, ignore_errors=True)

    def _compile(self, snapshot: Snapshot) -> GatewayConfig:
        config = compile_gateway(snapshot.estate, self.limits, self.services)
        log_unserved(self._config, config)
        self._config = config
        return config


def listener_tls(snapshot: Snapshot) -> ListenerTls | None:
    """The listener's TLS from the Platform; a certificate that does not load stops the start."""
    try:
        return ListenerTls.from_estate(snapshot.estate)
    except ConfigError as exc:
        raise ServeError(f"cannot serve TLS on the gateway: {exc.message}") from None


def worker_estate_dir(runtime: Runtime, folder: Path) -> Path:
    """A link in ``folder`` to the running revision's files, moved to each new revision before
    the workers are told to reload: a worker loads what it points to, which may be a revision
    this node took from the store rather than its own estate directory. ``folder`` is outside
    the estate, so nothing that walks the estate meets a link back into it."""
    link = folder / "estate"
    fresh = folder / "estate.next"
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(runtime.running_dir())
    fresh.replace(link)  # atomic: a worker reads the old target or the new one
    return link


def log_unserved(before: GatewayConfig | None, after: GatewayConfig) -> None:
    """Warn about the routes ``after`` leaves out: by name, each one ``before`` served (a reload
    that takes a route down must not pass unnoticed), then the whole list when it changed and
    holds more than those."""
    served = {r.name for r in before.routes} if before is not None else set()
    dropped = [u for u in after.unserved if u.route in served]
    for unserved in dropped:
        log.warning("route %s was served and is not any more: %s", unserved.route, unserved.reason)
    line = after.unserved_line()
    changed = line != (before.unserved_line() if before is not None else None)
    if line is not None and changed and len(dropped) < len(after.unserved):
        log.warning("%s", line)
