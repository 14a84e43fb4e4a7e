"""One gateway worker process: ``python -m interlink.gateway.workers.worker OPTIONS_JSON``.

Started by :class:`interlink.gateway.workers.supervisor.Supervisor`. It loads the estate
itself, binds the gateway port with SO_REUSEPORT beside its siblings, prints ``ready`` on
stdout, reloads on SIGHUP and stops gracefully on SIGTERM, SIGINT or when its stdin closes
(its supervisor died).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from interlink.connectors.registry import registry
from interlink.errors import InterlinkError
from interlink.estate.check import check_estate
from interlink.estate.model import Estate
from interlink.estate.references import use_secret_store
from interlink.gateway.auth.platform_keys import PlatformKeyRing
from interlink.gateway.auth.platform_keys import keep_refreshed as keep_platform_keys
from interlink.gateway.compiler import compile_gateway
from interlink.gateway.config import GatewayConfig
from interlink.gateway.connection_limits import Limits
from interlink.gateway.listener_tls import ListenerTls, follow_tls
from interlink.gateway.server import GatewayServer
from interlink.gateway.services import GatewayServices
from interlink.gateway.shadow.mirror import flush_comparisons
from interlink.gateway.sockets import bind
from interlink.gateway.state import StateKey
from interlink.gateway.telemetry.access_log import configure_access_log
from interlink.gateway.telemetry.observer import GatewayObserver
from interlink.gateway.telemetry.tracing import GatewayTracing
from interlink.gateway.workers.event_link import EventLink
from interlink.gateway.workers.flows import WorkerFlows
from interlink.gateway.workers.metrics import MetricsEndpoint
from interlink.observe.lineage import LineageRecorder
from interlink.observe.signals import SignalSaver
from interlink.observe.tracing import start_tracing, stop_tracing
from interlink.products.service import Products
from interlink.store import open_store
from interlink.store.keyring import KeyRing, keep_refreshed
from interlink.vault import StoreSecrets, load_master_keys

#: The estate this worker serves now.
SERVED_ESTATE: Final[StateKey[Estate]] = StateKey("served-estate")
STORE_SECRETS: Final[StateKey[StoreSecrets]] = StateKey("store-secrets")
KEY_REFRESH = 2.0  # seconds between reloads of consumer keys from the store, as the mesh does

log = logging.getLogger("interlink.gateway")


@dataclass(frozen=True)
class WorkerOptions:
    estate_dir: str
    listen: str  # HOST:PORT, the port already resolved by the supervisor
    limits: Limits
    log_level: str = "info"
    store_url: str | None = None  # the runtime's store: consumer API keys are read from it
    access_log: bool = True
    # The main process's event ingress (a Unix socket): /events and REST-to-event go there.
    ingress_socket: str | None = None
    # Where this worker answers the supervisor's metrics scrapes (a Unix socket), if anywhere.
    metrics_socket: str | None = None
    # Where the node keeps materialised products: product routes read them from here.
    products_dir: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerOptions:
        data = json.loads(text)
        limits = Limits(**data["limits"])
        return cls(
            data["estate_dir"],
            data["listen"],
            limits,
            data["log_level"],
            data.get("store_url"),
            data.get("access_log", True),
            data.get("ingress_socket"),
            data.get("metrics_socket"),
            data.get("products_dir"),
        )


def load_config(
    options: WorkerOptions,
    services: GatewayServices | None = None,
    flows: WorkerFlows | None = None,
) -> GatewayConfig:
    result = check_estate(Path(options.estate_dir), connectors=registry())
    if not result.ok:
        errors = [f for f in result.findings if f.severity == "error"]
        raise InterlinkError(f"the estate has {len(errors)} error(s)")
    if services is not None and services.tracing is None:  # each worker exports its own spans
        telemetry = result.estate.platform.spec.telemetry
        traced = start_tracing(telemetry, services.metrics, f"{socket.gethostname()}:{os.getpid()}")
        if traced is not None:
            services.tracing = GatewayTracing(traced)
    if services is not None and services.store is not None:
        # Each worker records the served hops of its product reads itself.
        if services.lineage is None:
            services.lineage = LineageRecorder(services.store, result.estate)
        else:
            services.lineage.use(result.estate)
    config = compile_gateway(result.estate, options.limits, services)
    if services is not None:  # the products its product routes read follow it too
        services.state[SERVED_ESTATE] = result.estate
    if flows is not None:  # the runs its flow routes start follow the estate it now serves
        flows.estate = result.estate
    return config


def open_services(options: WorkerOptions) -> GatewayServices:
    """This worker's own services: a key ring over its own connection to the store, and the
    data products its product routes read (itself, over the node's files)."""
    services = GatewayServices()
    if options.products_dir is not None:
        state = services.state
        services.products = Products(lambda: state[SERVED_ESTATE], Path(options.products_dir))
    if options.store_url is None:
        return services
    services.store = open_store(options.store_url)
    services.keyring = KeyRing(services.store)
    services.keyring.refresh()
    # `${secret:…}` ends in the encrypted store, as in the node; a reload forgets the values
    # first (the node reloads the workers when the store's secrets change).
    master = load_master_keys()
    secrets = StoreSecrets(services.store, master)
    secrets.refresh()
    use_secret_store(secrets)
    services.state[STORE_SECRETS] = secrets
    # The platform's token keys: checked and signed with here; the serving process rotates them.
    services.platform_keys = PlatformKeyRing(services.store, master)
    services.platform_keys.load()
    return services


def forget_secrets(services: GatewayServices) -> None:
    """Forget the secrets opened from the store if they changed there, before a reload."""
    secrets = services.state.get(STORE_SECRETS)
    if secrets is not None:
        secrets.refresh()


async def _close(
    services: GatewayServices, link: EventLink | None, flows: WorkerFlows | None
) -> None:
    """What the worker holds open beside its server: the ingress link, its flows' engine, its
    products' sources, its lineage (the last hops written)."""
    if link is not None:
        await link.aclose()
    if flows is not None:
        await flows.engine.aclose()
    if services.products is not None:
        await services.products.aclose()
    if services.lineage is not None:
        await services.lineage.stop()


def _refreshers(
    loop: asyncio.AbstractEventLoop, services: GatewayServices
) -> list[asyncio.Task[None]]:
    """The tasks that reload the consumer keys and the platform's token keys from the store."""
    tasks = []
    keyring = services.keyring  # (an empty KeyRing is falsy: compare with None)
    if keyring is not None:
        tasks.append(loop.create_task(keep_refreshed(keyring, KEY_REFRESH)))
    if services.platform_keys is not None:
        tasks.append(loop.create_task(keep_platform_keys(services.platform_keys)))
    return tasks


async def run(options: WorkerOptions) -> None:
    loop = asyncio.get_running_loop()
    services = await asyncio.to_thread(open_services, options)
    link = EventLink(options.ingress_socket) if options.ingress_socket is not None else None
    services.events = link
    # Flow routes: this worker runs the flows it starts, durably in the store.
    flows = WorkerFlows(services.store, link) if services.store is not None else None
    services.flows = flows.engine if flows is not None else None
    config = await asyncio.to_thread(load_config, options, services, flows)
    observer = GatewayObserver(services, access_log=options.access_log)
    saver = SignalSaver(services.store)  # the monitors' signals of this worker's requests
    saver.start()
    if services.lineage is not None:
        services.lineage.start()
    tls = await asyncio.to_thread(ListenerTls.from_estate, services.state[SERVED_ESTATE])
    server = GatewayServer(config, events=link, observer=observer, tls=tls)
    await server.start(bind(options.listen, reuse_port=True))
    endpoint = None
    if options.metrics_socket is not None:
        endpoint = MetricsEndpoint(services.metrics, options.metrics_socket)
        await endpoint.start()
    done = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        try:
            await asyncio.to_thread(forget_secrets, services)
            server.update(await asyncio.to_thread(load_config, options, services, flows))
            await asyncio.to_thread(follow_tls, server.tls, services.state[SERVED_ESTATE])
        except InterlinkError as exc:
            log.debug("worker keeps its revision: %s", exc.message)

    def on_hup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    watcher = loop.create_task(_until_stdin_closes(done))
    refreshers = _refreshers(loop, services)
    gc.freeze()  # the startup objects live as long as the process: spare the collector them
    print("ready", flush=True)
    await done.wait()
    watcher.cancel()
    for task in refreshers:
        task.cancel()
    await server.stop()
    await saver.stop()
    if endpoint is not None:
        await endpoint.stop()
    await _close(services, link, flows)
    await asyncio.to_thread(flush_comparisons, services)
    await asyncio.to_thread(stop_tracing)
    if services.store is not None:
        services.store.close()


async def _until_stdin_closes(done: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    with contextlib.suppress(OSError, ValueError):
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while await reader.read(1024):
            pass
        done.set()


def main() -> None:
    options = WorkerOptions.from_json(sys.argv[1])
    logging.basicConfig(
        level=options.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
    )
    configure_access_log(options.access_log)
    import uvloop

    try:
        uvloop.run(run(options))
    except InterlinkError as exc:
        print(f"interlink: gateway worker: {exc.message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
