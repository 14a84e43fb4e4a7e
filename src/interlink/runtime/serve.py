"""`interlink serve`: the components in one asyncio process, with reloads and clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Final

import uvicorn
from starlette.types import ASGIApp

from interlink.estate.kinds.organisation import TelemetrySettings
from interlink.estate.not_yet import not_run_line
from interlink.events.backends.embedded import EmbeddedBus
from interlink.events.mesh import EventMesh
from interlink.gateway import sockets
from interlink.observe.inventory_metrics import InventoryGauges
from interlink.observe.tracing import start_tracing, stop_tracing
from interlink.runtime.admin_listener import admin_limits, limited_protocol
from interlink.runtime.alerts import start_alerts
from interlink.runtime.dataplane import DataPlane
from interlink.runtime.flows import FlowRunner
from interlink.runtime.gateway import GatewayHost
from interlink.runtime.lineage import NodeLineage
from interlink.runtime.monitors import start_monitors
from interlink.runtime.nodes import NodeReport
from interlink.runtime.products import start_products
from interlink.runtime.runtime import Runtime, store_url_for
from interlink.runtime.secrets import NodeSecrets
from interlink.runtime.snapshot import Snapshot
from interlink.runtime.watching import estate_changes
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.serve")

#: Seconds a thread holds the GIL while another waits for it (Python's default is 5 ms). The
#: store's writer threads (flow checkpoints, event queues, lineage) release the GIL around every
#: SQLite step and psycopg round trip and must take it back from the busy event loop each time.
#: On a machine whose cores are busy with other work too, 5 ms a wait made a batch of
#: checkpoints take tens of milliseconds and capped a consumed queue's rate
#: (bench/connectors_consume.py, AMQP, load 2.5-3: 0.38-0.39x the plain consumer at 5 ms,
#: 0.47-0.48x at 1 ms, runs interleaved); at rest the two are within the runs' spread.
SWITCH_INTERVAL: Final = 0.001


def bind(listen: str) -> socket.socket:
    """Bind the listening socket ourselves, so a busy port is one clear error, not a crash."""
    return sockets.bind(listen, backlog=512)


bound_address = sockets.bound_address


class _Server(uvicorn.Server):
    """Uvicorn re-raises the signal that stopped it; we handle signals ourselves instead, so a
    graceful stop exits 0 and SIGHUP can share the same loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    runtime: Runtime,
    admin_app: ASGIApp,
    admin_sock: socket.socket,
    on_ready: Callable[[], None] | None = None,
    gateway: GatewayHost | None = None,
) -> None:
    """Run until SIGTERM/SIGINT; reload on SIGHUP and, with --watch, on file changes.

    ``admin_app`` is the admin API, built by the caller (the CLI, a layer above) and served on
    ``admin_sock``. The gateway starts before the admin API answers and stops alongside it: no new
    connections, open requests finish, idle keep-alive connections close.
    """
    sys.setswitchinterval(SWITCH_INTERVAL)
    secrets = NodeSecrets(runtime.store)  # `${secret:…}` ends in the encrypted store
    secrets.install()
    config = uvicorn.Config(
        admin_app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
        # The gateway's limits on request heads and idle connections hold here too.
        http=limited_protocol(lambda: admin_limits(runtime)),
        # Typed int by uvicorn, used as a float (loop.call_later): fractions hold too.
        timeout_keep_alive=runtime.settings.gateway_idle_timeout,  # type: ignore[arg-type]
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[object]] = set()

    def stop(sig: signal.Signals) -> None:
        if server.should_exit:  # a second Ctrl-C: stop waiting for open connections
            server.force_exit = True
        log.info("%s received: shutting down", sig.name)
        server.should_exit = True
        if gateway is not None:
            gateway.stop()
        stopping = loop.create_task(runtime.stop_waiting())  # data-plane nodes' held requests
        tasks.add(stopping)
        stopping.add_done_callback(tasks.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)

    def reload(source: str) -> None:
        task = loop.create_task(runtime.reload(source))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    report = NodeReport(
        runtime, bound_address(admin_sock), gateway.address if gateway is not None else ""
    )
    runtime.node_id = report.id
    telemetry = runtime.snapshot.estate.platform.spec.telemetry
    start_tracing(telemetry, runtime.metrics, runtime.node_id)
    # A data-plane node takes its revisions from its control plane, not from a directory.
    plane = DataPlane(runtime, report) if runtime.settings.control_plane else None
    on_sighup = (plane.retry,) if plane is not None else (reload, "sighup")
    loop.add_signal_handler(signal.SIGHUP, *on_sighup)
    watcher = loop.create_task(_watch(runtime, reload)) if runtime.settings.watch else None
    ready: asyncio.Task[None] | None = None
    mesh: EventMesh | None = None
    announce(runtime.snapshot)

    async def announce_reload(snapshot: Snapshot) -> None:
        announce(snapshot)
        _warn_if_traces_changed(telemetry, snapshot.estate.platform.spec.telemetry)

    runtime.on_reload(announce_reload)
    follower = heartbeat = secrets_follower = None
    try:
        mesh = await start_mesh(runtime)
        runtime.monitors = await start_monitors(runtime, runtime.alerts)  # verdicts to alerts
        if gateway is not None:
            gateway.events = mesh.ingress
            await gateway.start()
            report.gateway_up = True
            secrets.on_change(lambda: gateway.reload(runtime.snapshot))
        secrets_follower = loop.create_task(secrets.follow())
        follower, heartbeat = _follow(runtime, report, plane)
        # What exists now (estate, snapshot, apps) lives as long as the process: keep it out of
        # the cyclic collector's full passes, which would otherwise stall requests.
        gc.freeze()
        ready = loop.create_task(_announce(server, on_ready))
        await server.serve(sockets=[admin_sock])
    finally:
        await cancel_and_wait([follower, heartbeat, secrets_follower])
        secrets.uninstall()
        if plane is not None:
            await plane.close()
        if gateway is not None:
            await gateway.stop()
        await stop_mesh(runtime)
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await cancel_and_wait([watcher, ready, *tasks])
        await asyncio.to_thread(stop_tracing)  # the spans still waiting, within its timeout
        log.info("stopped")


def _follow(
    runtime: Runtime, report: NodeReport, plane: DataPlane | None
) -> tuple[asyncio.Task[None], asyncio.Task[None]]:
    """The tasks that keep this node on the current revision and say what it runs."""
    loop = asyncio.get_running_loop()
    if plane is not None:
        return loop.create_task(plane.follow()), loop.create_task(plane.report())
    # Every node runs the store's current revision, whoever recorded it.
    return loop.create_task(runtime.follow()), loop.create_task(report.run())


def announce(snapshot: Snapshot) -> None:
    """Log what running this revision leaves aside: each passed sunset (an error for `check`,
    served anyway so that a date going by never takes the platform down) and the objects that
    are declared but not run yet."""
    root = snapshot.estate.root
    for finding in snapshot.findings:
        if finding.severity == "error":
            log.warning("passed sunset, served anyway: %s", finding.render(root))
    line = not_run_line(snapshot.estate)
    if line is not None:
        log.info("%s", line)


def _warn_if_traces_changed(started: TelemetrySettings, now: TelemetrySettings) -> None:
    """Tracing is set up once, at start: say so when a reload changes its settings."""
    fields = ("otlp_endpoint", "service_name", "sample_ratio")
    if any(getattr(now, f) != getattr(started, f) for f in fields):
        log.warning("spec.telemetry's traces settings changed: they apply at the next restart")


async def start_mesh(runtime: Runtime) -> EventMesh:
    """The event mesh on the running estate, following its reloads."""
    snapshot = runtime.snapshot
    store_url = store_url_for(runtime.settings, snapshot)

    def is_current() -> bool:
        """Whether this node runs the store's current revision: only then may it prune."""
        if runtime.settings.control_plane:  # a data-plane node: its control plane's current
            return runtime.control_plane_reachable is True and runtime.behind_since is None
        latest = runtime.store.revisions.latest()
        return latest is None or latest.hash == runtime.snapshot.content_hash

    bus = None
    state_dir = runtime.settings.state_dir
    if state_dir is not None:
        # A data-plane node's event log is its own, beside its store (not in a revision's
        # folder): it holds no leases, so on the control plane's NATS it would deliver what the
        # control plane's nodes deliver too.
        bus = EmbeddedBus(state_dir / "events.db")
        if snapshot.estate.platform.spec.events.backend == "nats":
            log.info(
                "data-plane node: events published here go to its own log %s and are delivered "
                "from here; the Platform's NATS is the control plane's",
                state_dir / "events.db",
            )
    flows = FlowRunner(runtime)
    lineage = NodeLineage(runtime)
    flows.lineage = lineage
    mesh = EventMesh(
        snapshot.estate,
        runtime.store,
        store_url,
        bus=bus,
        metrics=runtime.metrics,
        node=runtime.node_id,
        is_current=is_current,
        lease_ttl=runtime.settings.lease_ttl,
        start_flow=flows,
        links=runtime.links,
        lineage=lineage.recorder,
    )
    flows.publish_through(mesh.ingress)
    runtime.lineage = lineage
    lineage.start()
    runtime.flows = flows
    await mesh.start()
    runtime.mesh = mesh
    # The observed / declared ratio and its counts, as gauges (every 5 minutes, off the loop).
    runtime.inventory = InventoryGauges(
        runtime.metrics, runtime.store, lambda: runtime.snapshot.estate
    )
    runtime.inventory.start()
    flows.start()  # resumes the runs left pending, then keeps looking
    await flows.start_schedules()
    await flows.start_retention()
    await lineage.start_purge(mesh.keeper)
    await flows.start_triggers(flows.declared_triggers)
    runtime.alerts = await start_alerts(runtime)
    runtime.products, runtime.product_refreshes = await start_products(runtime)

    async def follow(fresh: Snapshot) -> None:
        await mesh.apply(fresh.estate)

    runtime.on_reload(follow)
    return mesh


async def stop_mesh(runtime: Runtime) -> None:
    """Stop the monitors, the alerts and the flows first (their runs resume after the lease),
    then the mesh, whose lease keeper they use."""
    if runtime.monitors is not None:
        await runtime.monitors.close()
        runtime.monitors = None
    if runtime.inventory is not None:
        await runtime.inventory.stop()
        runtime.inventory = None
    if runtime.product_refreshes is not None:
        await runtime.product_refreshes.close()
        runtime.product_refreshes = None
    if runtime.products is not None:
        await runtime.products.aclose()
        runtime.products = None
    if runtime.alerts is not None:
        await runtime.alerts.close()
        runtime.alerts = None
    if runtime.flows is not None:
        await runtime.flows.close()
        runtime.flows = None
    if runtime.mesh is not None:
        await runtime.mesh.close()
        runtime.mesh = None
    if runtime.lineage is not None:  # after the mesh: what it recorded last is written
        await runtime.lineage.close()
        runtime.lineage = None


async def _announce(server: uvicorn.Server, on_ready: Callable[[], None] | None) -> None:
    while not server.started:
        await asyncio.sleep(0.02)
    if on_ready is not None:
        on_ready()


async def _watch(runtime: Runtime, reload: Callable[[str], None]) -> None:
    """Reload on estate or contract file changes, debounced by watchfiles."""
    from watchfiles import awatch

    root = runtime.settings.estate_dir.resolve()
    # Filtered before watchfiles logs or yields, so the store's writes go unremarked.
    wanted = estate_changes(root, store_url_for(runtime.settings, runtime.snapshot))
    async for _ in awatch(root, debounce=300, recursive=True, watch_filter=wanted):
        reload("watch")
