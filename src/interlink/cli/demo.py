"""`interlink demo`: the retail example estate, running, with someone to talk to.

It writes the example (once) to ``--dir``, gives it secrets of its own (webhook signing secrets,
the mobile app's JWT key) in a hidden folder beside it, serves it on the embedded default, and
starts the companions: a CRM simulator publishing address updates, a web shop simulator placing
orders, and mock systems receiving webhooks and answering the flows' calls (see
``interlink.examples.companions``). It prints a fresh
admin token and a fresh API key each run, and commands to try; the same credentials are kept
in ``credentials.txt`` (mode 600) in ``--dir`` and printed again by ``--print-credentials``.
Request logs (the gateway's access log, the simulator's HTTP client) stay off unless
``--access-log`` is given, so the banner is not scrolled away.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from interlink.admin.console.sign_in_link import link_address
from interlink.cli.estate import write_example
from interlink.cli.serve import configure_logging, run, serve_options, start
from interlink.errors import ConfigError
from interlink.events.signing import generate_secret
from interlink.examples.companions import (
    BACKOFFICE_CUSTOMER,
    FIRST_PORT,
    PAUSE_PATH,
    RESUME_PATH,
    SYSTEMS,
    DemoCompanions,
    base_url,
    place_companions,
    place_data,
)
from interlink.examples.crm import BAD_PATH, REPAIR_PATH
from interlink.examples.mocks import FAIL_PATH, RECEIVED_PATH, RECOVER_PATH
from interlink.gateway.telemetry.access_log import configure_access_log
from interlink.runtime.serve import bound_address
from interlink.runtime.settings import ServeSettings
from interlink.store import Actor, Role, Store

DEMO_NAME = "demo"  # the label of the demo's token and key, replaced each run
BACKOFFICE = "demo-backoffice"  # the operator token of the back-office script, replaced each run
PUBLISHER = "crm-publisher"
PARTNER = "acme-logistics"
SHOP = "webshop"
ANALYTICS = "analytics"
CREDENTIALS = "credentials.txt"  # in the demo's directory, mode 600
#: The read-only SQL the banner suggests over customer-360 (a constant: nothing is formatted in).
TRY_SQL = (
    'SELECT country, count(*) AS customers, sum(spent) AS spent FROM "customer-360" '
    "GROUP BY country ORDER BY spent DESC"
)


def _random() -> str:
    return secrets.token_urlsafe(32)


SECRETS: dict[str, Callable[[], str]] = {
    "logistics-webhook-secret": generate_secret,
    "analytics-webhook-secret": generate_secret,
    "mobile-jwt-key": _random,
    "crm-legacy-token": _random,
}


def demo_jwt(secret: str, hours: int = 24) -> str:
    """A token the mobile app's identity provider could have issued (HS256, per the Route)."""

    def part(value: dict[str, object]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "iss": "https://login.example.com",
        "aud": "retail-api",
        "sub": "mobile-app",
        "scope": "customers:read",
        "iat": now,
        "exp": now + hours * 3600,
    }
    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def demo_secrets(directory: Path) -> dict[str, str]:
    """The demo's secrets, made once and kept (so receivers and runs agree)."""
    folder = directory / ".secrets"
    folder.mkdir(parents=True, exist_ok=True)
    values = {}
    for name, make in SECRETS.items():
        path = folder / name
        if not path.exists():
            path.write_text(make())
            path.chmod(0o600)
        values[name] = path.read_text().strip()
    return values


def command_name() -> str:
    """How to run this very ``interlink`` in the printed commands: the bare name when the shell
    finds it, else the path it was started by (``.venv/bin/interlink`` after ``make demo``)."""
    if shutil.which("interlink"):
        return "interlink"
    started = sys.argv[0]
    if os.sep in started and os.path.basename(started) == "interlink":
        return started
    beside = os.path.join(os.path.dirname(sys.executable), "interlink")
    return beside if os.path.exists(beside) else f"{sys.executable} -m interlink.cli.main"


def write_credentials(directory: Path, lines: list[str]) -> None:
    path = directory / CREDENTIALS
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    path.chmod(0o600)  # also when an older file had other modes


def show_credentials(directory: Path) -> None:
    try:
        text = (directory / CREDENTIALS).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no demo credentials in {directory}: they are written when the demo starts"
        ) from None
    click.echo(text, nl=False)


def demo_serve_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    return serve_options(fn, access_log=False)


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=Path(".interlink/demo"),
    show_default=True,
    help="Where the example estate is written (kept between runs).",
)
@click.option(
    "--companions/--no-companions",
    default=True,
    show_default=True,
    help="Run the CRM and web shop simulators and the mock systems.",
)
@click.option(
    "--companions-port",
    type=click.IntRange(0, 65535 - len(SYSTEMS) + 1),
    default=FIRST_PORT,
    show_default=True,
    help=f"First of the {len(SYSTEMS)} ports of the mock systems ({', '.join(SYSTEMS)}; their "
    "Systems' baseUrl in the demo estate follow); 0: free ports.",
)
@click.option(
    "--print-credentials",
    is_flag=True,
    help=f"Print the admin token and keys of the last demo run ({CREDENTIALS}) and exit.",
)
@demo_serve_options
def demo_command(
    directory: Path,
    companions: bool,
    companions_port: int,
    print_credentials: bool,
    **options: Any,
) -> None:
    """Run the retail example estate on the embedded default, printing what to try."""
    if print_credentials:
        show_credentials(directory)
        return
    settings = ServeSettings(directory, **options)  # the flags are the settings' fields
    configure_logging(settings.log_level)
    configure_access_log(settings.access_log)
    if not settings.access_log:  # the simulator's client would log every publish
        logging.getLogger("httpx").setLevel(logging.WARNING)
    if not (directory / "platform.yaml").exists():
        write_example("retail", directory, force=True)
        click.echo(f"interlink: wrote the retail example estate to {directory}")
    place_data(directory)
    if companions:
        place_companions(directory, companions_port)
    values = demo_secrets(directory)
    os.environ.setdefault("INTERLINK_SECRETS_DIR", str((directory / ".secrets").resolve()))
    runtime, sock, gateway = start(settings)
    token, key, partner_key, shop_key, analytics_key = fresh_credentials(runtime.store)
    mobile_jwt = demo_jwt(values["mobile-jwt-key"])
    admin = f"http://{bound_address(sock)}"  # type: ignore[arg-type]
    console_link = demo_sign_in_link(runtime.store, token, admin)
    host, _, port = gateway.address.rpartition(":")
    gw = f"http://{'127.0.0.1' if host in ('0.0.0.0', '[::]') else host}:{port}"  # noqa: S104

    def echo(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    credentials = [
        f"admin API     {admin}",
        f"admin token   {token}",
        f"gateway       {gw}",
        f"CRM API key   {key}",
        f"partner key   {partner_key}",
        f"shop key      {shop_key}",
        f"analytics key {analytics_key}",
        f"mobile JWT    {mobile_jwt}",
    ]
    write_credentials(directory, credentials)
    cli = command_name()

    def ready() -> None:
        snap = runtime.snapshot
        d = directory
        rev = snap.revision.id if snap.revision else "-"
        auth = f'-H "Authorization: Bearer {token}"'
        mock_lines, observe_lines, data_lines = [], [], []
        at = f"--estate {d}"
        if companions:
            inventory, erp, crm = (base_url(snap.estate, s) for s in ("inventory", "erp", "crm"))
            mock_lines = [
                f"  curl {inventory}{RECEIVED_PATH}   # what inventory received: held, released",
                f"  curl {erp}{RECEIVED_PATH}   # the addresses address-sync brought to the ERP",
            ]
            data_lines = [
                f"  curl -X POST {crm}{BAD_PATH}   # the CRM stores a customer breaking the "
                "contract: the next refresh fails, the last good data keeps serving; "
                f"customer-360-refreshes fires in a few minutes; {REPAIR_PATH} to repair",
            ]
            observe_lines = [
                f"Observe (alerts are printed here as they open; also: {cli} alerts list {at}):",
                f"  {cli} inventory {at} --undeclared   # the back-office script's operator token",
                f"  curl -X POST {crm}{PAUSE_PATH}   # the CRM goes quiet: address-updates-fresh "
                f"fires in 2-3 min; {RESUME_PATH} to resume",
                f"  curl -X POST {erp}{FAIL_PATH}   # the ERP answers 503: address-sync-runs "
                f"burns its SLO in 2-3 min; {RECOVER_PATH} to recover",
                f"  {cli} monitors list {at}",
                f"  {cli} lineage trace customer {BACKOFFICE_CUSTOMER} {at}   # publish, "
                "deliveries, flow steps, writes (or any customer id printed below)",
            ]
        lines = [
            "",
            f"Interlink demo: {len(snap.estate)} objects from {d} (revision {rev})",
            f"  admin API     {admin}   (OpenAPI: {admin}/openapi.json)",
            f"  console       {admin}/console/   (sign in with the admin token)",
            f"  sign-in link  {console_link}   (one use, within 10 minutes)",
            f"  admin token   {token}",
            f"  gateway       {gw}",
            f"  CRM API key   {key}   (Consumer crm-publisher)",
            f"  partner key   {partner_key}   (Consumer acme-logistics)",
            f"  shop key      {shop_key}   (Consumer webshop)",
            f"  analytics key {analytics_key}   (Consumer analytics)",
            f"  (kept in {d / CREDENTIALS}; {cli} demo --dir {d} --print-credentials)",
            "",
            "Try:",
            f"  curl {admin}/readyz",
            f"  curl {auth} {admin}/api/v1/estate",
            f"  curl {auth} '{admin}/api/v1/graph?format=mermaid'",
            f"  {cli} console link {at} --admin {admin} --token {token}   # another sign-in link",
            "Gateway (the customers API; v1 is split 90/10 between the legacy and the new CRM):",
            f"  curl -i {gw}/api/customers/C000001 -H 'x-api-key: {partner_key}'",
            f"  curl -i {gw}/api/customers/C000001 -H 'Authorization: Bearer {mobile_jwt}'",
            f"  curl -i {gw}/api/v2/customers/C000001 -H 'x-api-key: {partner_key}'",
            f"  curl -i {gw}/api/customers/nope -H 'x-api-key: {partner_key}'   # 400",
            f"  curl -i {gw}/api/customers/C000001   # 401",
            f"  {cli} routes compare customers --estate {d}   # the shadow's differences",
            "Events:",
            f"  curl -X POST {gw}/events/customer.address-updated -H 'x-api-key: {key}' "
            "-H 'content-type: application/json' -H 'ce-specversion: 1.0' -H 'ce-id: demo-1' "
            "-H 'ce-source: crm' -H 'ce-type: customer.address-updated' "
            """-d '{"customerId": "C000001", "address": {"street": "1 Quay St", """
            """"city": "Galway", "country": "IE"}, "changedAt": "2026-11-22T10:00:00Z"}'""",
            f"  curl {auth} {admin}/api/v1/subscriptions",
            f"  {cli} events tail customer.address-updated --admin {admin} --token {token}",
            f"  {cli} dlq list --admin {admin} --token {token}",
            "Flows (the web shop places an order every few seconds; billing declines some):",
            f"  curl -i -X POST {gw}/api/orders -H 'x-api-key: {shop_key}' "
            "-H 'content-type: application/json' "
            """-d '{"orderId": "O-try-1", "customerId": "C000001", "items": [{"sku": "SKU-LAMP", """
            """"quantity": 1}], "amount": 49.9, "currency": "EUR"}'"""
            "   # the saga's result; again: 409",
            f"  {cli} flows runs --admin {admin} --token {token}   # completed and compensated",
            f"  {cli} flows show RUN --admin {admin} --token {token}   # each step of one run",
            *mock_lines,
            "Data products (customer-360: the CRM's database, the orders file and the address "
            "changes, joined):",
            f"  curl '{gw}/data/customer-360?sort=id&limit=3' -H 'x-api-key: {partner_key}'"
            "   # masked; only the countries the partner ships to",
            f"  curl '{gw}/data/customer-360?sort=id&limit=3' -H 'x-api-key: {analytics_key}'"
            "   # unmasked: analytics holds pii:read",
            f"  curl '{gw}/data/customer-360?filter=spent:ge:100&columns=id,city,spent' "
            f"-H 'x-api-key: {analytics_key}' -H 'accept: text/csv'",
            f"  curl -X POST {gw}/data/customer-360/sql -H 'x-api-key: {analytics_key}' "
            f"--data-binary '{TRY_SQL}'",
            *data_lines,
            f"  {cli} products history customer-360 --estate {d}   # each refresh, its violations",
            f"  {cli} lineage trace DataProduct customer-360 {at}   # each read of its PII "
            "columns: who, in clear or masked, how many rows",
            *observe_lines,
            "Contracts:",
            f"  {cli} diff {d}/contracts/customer.address-updated.v1.schema.json "
            f"{d}/contracts/customer.address-updated.v2.schema.json   # compatible",
            f"  {cli} diff {d}/contracts/customers-v1.openapi.yaml "
            f"{d}/contracts/customers-v2.openapi.yaml   # breaking: why v2 is a new Api",
            f"  {cli} check {d} --lifecycle   # who still uses the deprecated v1",
            f"  {cli} export asyncapi {d}",
            f"  edit {d}/*.yaml, then: kill -HUP {os.getpid()}",
            "Ctrl-C stops.",
            "",
        ]
        echo("\n".join(lines))
        if companions and runtime.mesh is not None:
            helpers = DemoCompanions(
                snap.estate,
                runtime.mesh,
                gw,
                key,
                shop_key,
                values,
                echo,
                operator_token=backoffice_token(runtime.store),
                alerts=runtime.store.alerts,
            )
            _tasks.add(asyncio.get_running_loop().create_task(_run_companions(helpers, echo)))

    run(runtime, sock, ready, gateway)


_tasks: set[asyncio.Task[None]] = set()  # held so the companions are not collected


async def _run_companions(helpers: DemoCompanions, echo: Callable[[str], None]) -> None:
    try:
        await helpers.start()
    except OSError as exc:
        echo(f"demo: the mock systems could not start ({exc}); the platform runs on without them")
        return
    try:
        await asyncio.Event().wait()  # until the loop stops
    finally:
        await helpers.stop()


def fresh_credentials(store: Store) -> tuple[str, str, str, str, str]:
    """A new admin token and CRM, partner, shop and analytics keys, so the printed commands
    work; the demo's earlier ones are revoked. Returns the token, then the keys."""
    token = _replace_token(store, "admin", DEMO_NAME)
    keys = []
    audit, me = store.audit, Actor.local()
    for consumer in (PUBLISHER, PARTNER, SHOP, ANALYTICS):
        for old_key in store.consumer_keys.list(consumer):
            if old_key.name == DEMO_NAME and not old_key.revoked:
                with audit.recording(me, "consumer_key.revoke", f"key/{old_key.id}"):
                    store.consumer_keys.revoke(old_key.id)
        with audit.recording(
            me, "consumer_key.create", f"consumer/{consumer}", name=DEMO_NAME
        ) as outcome:
            key, info = store.consumer_keys.create(consumer, DEMO_NAME)
            outcome.details["key_id"] = info.id
        keys.append(key)
    return token, keys[0], keys[1], keys[2], keys[3]


def demo_sign_in_link(store: Store, token: str, admin: str) -> str:
    """A one-time console sign-in link for the demo's admin token."""
    return link_address(admin, store.console_links.mint(store.tokens.check(token).id))


def _replace_token(store: Store, role: Role, name: str) -> str:
    """A new token named ``name``, the earlier ones of that name revoked, all in the audit log.
    The new one comes first: the last active admin token cannot be revoked."""
    me = Actor.local()
    earlier = [old for old in store.tokens.list() if old.name == name and not old.revoked]
    with store.audit.recording(me, "token.create", "token", role=role, name=name) as outcome:
        token, info = store.tokens.create(role, name)
        outcome.target = f"token/{info.id}"
    for old in earlier:
        with store.audit.recording(me, "token.revoke", f"token/{old.id}"):
            store.tokens.revoke(old.id)
    return token


def backoffice_token(store: Store) -> str:
    """An operator token for the demo's back-office script, whose publishes no Consumer
    declares: the inventory's undeclared connection. The previous run's is revoked."""
    return _replace_token(store, "operator", BACKOFFICE)
