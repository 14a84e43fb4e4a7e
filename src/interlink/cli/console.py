"""`interlink console link`: a one-time link that signs in to the console as a token the
operator holds, for a browser where pasting the token is awkward (or where it should not go)."""

from __future__ import annotations

from pathlib import Path

import click

from interlink.admin.console.sign_in_link import link_address
from interlink.cli.admin import estate_option, open_estate_store, store_url_option
from interlink.errors import ConfigError
from interlink.estate.loader import load_estate
from interlink.store import LINK_LIFETIME, Actor
from interlink.store.audit import local_address

#: The admin API's address when the estate does not say (the Platform's default listen).
DEFAULT_ADMIN = "http://127.0.0.1:8081"


@click.group("console")
def console_group() -> None:
    """The web console of the admin API (/console)."""


@console_group.command("link")
@click.option(
    "--token",
    envvar="INTERLINK_TOKEN",
    required=True,
    help="The admin token the link signs in as (or INTERLINK_TOKEN); it is not in the link.",
)
@click.option(
    "--admin",
    "admin_url",
    envvar="INTERLINK_ADMIN_URL",
    help="The admin API's address as the browser reaches it (or INTERLINK_ADMIN_URL); "
    "default: the Platform's admin listen address.",
)
@estate_option
@store_url_option
def link_command(
    token: str, admin_url: str | None, estate_dir: Path, store_url: str | None
) -> None:
    """Print a sign-in link for the console: it works once, within 10 minutes, on any node of
    the store, and signs in as --token would."""
    store = open_estate_store(estate_dir, store_url)
    try:
        info = store.tokens.check(token.strip())
        if info.role == "dataplane":
            raise ConfigError("a dataplane token cannot sign in to the console: give a person's")
        with store.audit.recording(
            Actor.of_token(info, local_address()), "console.link", f"token/{info.id}"
        ):
            code = store.console_links.mint(info.id)
    finally:
        store.close()
    click.echo(link_address(admin_url or _admin_of(estate_dir), code))
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    click.echo(
        f"one use, within {minutes} minutes, signs in as {info.name} ({info.role})", err=True
    )


def _admin_of(estate_dir: Path) -> str:
    estate, _ = load_estate(estate_dir)
    if not estate.objects:
        return DEFAULT_ADMIN
    host, _, port = estate.platform.spec.admin.listen.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::"):  # noqa: S104 - a wildcard is reached on loopback
        host = "127.0.0.1"
    return f"http://{host}:{port}"
