"""`interlink serve` and `interlink demo`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from interlink._native import in_use as native_in_use
from interlink.admin.console.sign_in_link import link_address
from interlink.estate.findings import EstateLoadError
from interlink.gateway.telemetry.access_log import configure_access_log
from interlink.leases import DEFAULT_TTL
from interlink.runtime.dataplane import open_data_plane
from interlink.runtime.gateway import GatewayHost, bind_gateway
from interlink.runtime.runtime import Runtime, estate_root
from interlink.runtime.serve import bind, bound_address, serve
from interlink.runtime.settings import ServeSettings
from interlink.store import Actor


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
    )
    # One line per HTTP call a data-plane node makes (every few seconds) would drown the rest.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


def _print_findings(exc: EstateLoadError, estate_dir: Path) -> None:
    root = estate_root(estate_dir)
    for finding in exc.findings:
        if finding.severity == "error":
            click.echo(finding.render(root), err=True)


def start(settings: ServeSettings) -> tuple[Runtime, object, GatewayHost]:
    try:
        runtime = open_data_plane(settings) if settings.control_plane else Runtime.open(settings)
    except EstateLoadError as exc:
        if settings.control_plane:  # a revision on disk: its findings are in the one line
            raise
        _print_findings(exc, settings.estate_dir)
        errors = sum(1 for f in exc.findings if f.severity == "error")
        raise click.ClickException(f"the estate has {errors} error(s); not starting") from exc
    try:
        listen = settings.admin_listen or runtime.snapshot.estate.platform.spec.admin.listen
        sock = bind(listen)
    except BaseException:
        runtime.close()
        raise
    try:
        gateway_sock, workers = bind_gateway(runtime)
    except BaseException:
        runtime.close()
        sock.close()
        raise
    return runtime, sock, GatewayHost(runtime, gateway_sock, workers)


def run(runtime: Runtime, sock: object, on_ready: object, gateway: GatewayHost) -> None:
    import socket

    import uvloop  # the gateway's event loop; it comes with uvicorn[standard]

    assert isinstance(sock, socket.socket)
    try:
        from interlink.admin.app import create_app  # FastAPI: only when serving

        uvloop.run(serve(runtime, create_app(runtime), sock, on_ready, gateway))  # type: ignore[arg-type]
    finally:
        runtime.close()
        sock.close()
        gateway.sock.close()


def gateway_line(gateway: GatewayHost) -> str:
    workers = f" ({gateway.workers} workers)" if gateway.workers > 1 else ""
    tls = gateway.runtime.snapshot.estate.platform.spec.gateway.tls is not None
    return f"interlink: gateway on {'https' if tls else 'http'}://{gateway.address}{workers}"


F = TypeVar("F", bound=Callable[..., Any])


def serve_options(fn: F, *, access_log: bool = True) -> F:
    """The flags of ServeSettings; ``access_log`` is the default of ``--access-log``."""
    options = [
        click.option(
            "--store-url",
            envvar="INTERLINK_STORE_URL",
            help="sqlite:///path or postgresql://… (default: the Platform's, else "
            ".interlink/interlink.db beside the estate)",
        ),
        click.option(
            "--admin-listen",
            envvar="INTERLINK_ADMIN_LISTEN",
            help="HOST:PORT of the admin API (default: the Platform's, 127.0.0.1:8081)",
        ),
        click.option(
            "--watch/--no-watch",
            envvar="INTERLINK_WATCH",
            default=False,
            help="Reload when estate files change.",
        ),
        click.option(
            "--applied-by",
            envvar="INTERLINK_APPLIED_BY",
            help="Who applies revisions, as recorded (default: user@host).",
        ),
        click.option(
            "--gateway-listen",
            envvar="INTERLINK_GATEWAY_LISTEN",
            help="HOST:PORT of the gateway (default: the Platform's, 0.0.0.0:8080)",
        ),
        click.option(
            "--workers",
            envvar="INTERLINK_WORKERS",
            type=click.IntRange(1, 64),
            help="Gateway processes sharing the port (default: the Platform's, 1).",
        ),
        click.option(
            "--gateway-header-timeout",
            envvar="INTERLINK_GATEWAY_HEADER_TIMEOUT",
            type=click.FloatRange(0.1, 3600),
            default=10.0,
            show_default=True,
            help="Seconds a client of the gateway or the admin API gets to send a request's "
            "head; then it is answered 408 and closed.",
        ),
        click.option(
            "--gateway-idle-timeout",
            envvar="INTERLINK_GATEWAY_IDLE_TIMEOUT",
            type=click.FloatRange(0.1, 3600),
            default=30.0,
            show_default=True,
            help="Seconds an idle keep-alive connection to the gateway or the admin API stays "
            "open.",
        ),
        click.option(
            "--access-log/--no-access-log",
            envvar="INTERLINK_ACCESS_LOG",
            default=access_log,
            show_default=True,
            help="Log each gateway request as one JSON line (logger interlink.gateway.access).",
        ),
        click.option(
            "--lease-ttl",
            envvar="INTERLINK_LEASE_TTL",
            type=click.FloatRange(1, 300),
            default=DEFAULT_TTL,
            show_default=True,
            help="Seconds a node's leases live, and the NATS ack wait: how soon a dead node's "
            "work moves on to another. Give every node the same value.",
        ),
        click.option(
            "--log-level",
            envvar="INTERLINK_LOG_LEVEL",
            default="info",
            type=click.Choice(["debug", "info", "warning", "error"]),
            help="Least severe log lines shown (default: info).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def data_plane_options(fn: F) -> F:
    """The flags of a data-plane node: ``--control-plane`` turns it on."""
    options = [
        click.option(
            "--control-plane",
            envvar="INTERLINK_CONTROL_PLANE",
            metavar="URL",
            help="Run as a data-plane node of the control plane whose admin API is at URL: "
            "take its revisions instead of an estate directory's.",
        ),
        click.option(
            "--token",
            "control_plane_token",
            envvar="INTERLINK_CONTROL_PLANE_TOKEN",
            help="The data-plane node's token on the control plane, of role dataplane "
            "(better: INTERLINK_CONTROL_PLANE_TOKEN, kept off the command line).",
        ),
        click.option(
            "--state-dir",
            envvar="INTERLINK_STATE_DIR",
            type=click.Path(path_type=Path, file_okay=False),
            help="A data-plane node's store, event log and last good revision "
            "(default: .interlink/data-plane).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def serve_settings(directory: Path | None, options: dict[str, Any]) -> ServeSettings:
    """The settings of `interlink serve`; the flags of a data-plane node are checked here."""
    if not options.get("control_plane"):
        stray = [f for f in ("control_plane_token", "state_dir") if options.get(f)]
        if stray:
            flag = "--token" if stray[0] == "control_plane_token" else "--state-dir"
            raise click.UsageError(f"{flag} is for a data-plane node: give --control-plane URL")
        return ServeSettings(directory or Path("."), **options)
    if directory is not None:
        raise click.UsageError(
            "a data-plane node takes its estate from the control plane: give no DIRECTORY"
        )
    if options.get("watch"):
        raise click.UsageError("--watch watches an estate directory; a data-plane node has none")
    if not options.get("control_plane_token"):
        raise click.UsageError(
            "a data-plane node needs a dataplane token: set INTERLINK_CONTROL_PLANE_TOKEN "
            "or give --token"
        )
    url = str(options["control_plane"])
    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"--control-plane {url!r} is not an http:// or https:// URL")
    state_dir = (options.pop("state_dir") or Path(".interlink", "data-plane")).resolve()
    return ServeSettings(state_dir, state_dir=state_dir, **options)


@click.command("serve")
@click.argument("directory", type=click.Path(path_type=Path), required=False)
@serve_options
@data_plane_options
def serve_command(directory: Path | None, **options: Any) -> None:
    """Check the estate in DIRECTORY (default: here) and run it. Reloads on SIGHUP (and file
    changes with --watch); stops cleanly on SIGTERM or Ctrl-C.

    With --control-plane URL it runs a data-plane node instead: the gateway and event delivery
    of the control plane's current revision, kept on disk, served while the control plane is
    away."""
    settings = serve_settings(directory, options)  # the flags are the settings' fields
    configure_logging(settings.log_level)
    configure_access_log(settings.access_log)
    runtime, sock, gateway = start(settings)
    token = None
    if not runtime.store.tokens.has_admin():
        with runtime.store.audit.recording(
            Actor.local(), "token.create", "token", role="admin", name="initial"
        ) as outcome:
            token, info = runtime.store.tokens.create("admin", "initial")
            outcome.target = f"token/{info.id}"
    address = bound_address(sock)  # type: ignore[arg-type]
    # The first token's one-time console link: a browser signs in without the token pasted.
    link = None
    if token is not None:
        link = link_address(f"http://{address}", runtime.store.console_links.mint(info.id))

    def ready() -> None:
        rev = runtime.snapshot.revision
        click.echo(
            f"interlink: serving {len(runtime.snapshot.estate)} objects, "
            f"revision {rev.id if rev else '-'}"
        )
        if settings.control_plane:
            click.echo(
                f"interlink: data-plane node of the control plane at {settings.control_plane}"
            )
        click.echo(f"interlink: admin API on http://{address}")
        click.echo(f"interlink: console on http://{address}/console/")
        click.echo(gateway_line(gateway))
        click.echo(f"interlink: gateway request path {native_in_use()}")
        if token is not None:
            click.echo(f"interlink: admin token (shown once, store it now): {token}")
        if link is not None:
            click.echo(f"interlink: console sign-in link (one use, within 10 minutes): {link}")
        sys.stdout.flush()

    run(runtime, sock, ready, gateway)
