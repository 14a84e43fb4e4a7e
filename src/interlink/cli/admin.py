"""`interlink admin token create|list|revoke`: admin API credentials, stored hashed."""

from __future__ import annotations

from pathlib import Path

import click

from interlink.errors import ConfigError
from interlink.estate.loader import load_estate
from interlink.estate.references import resolve
from interlink.store import ROLES, Actor, Store, default_store_url, open_store


def no_estate(estate_dir: Path, give: str = "--estate DIR or --store-url URL") -> ConfigError:
    # A store made where no estate is would be one no running platform reads (its tokens 401).
    # ``give`` names the options of the command at hand: never one it does not take.
    return ConfigError(
        f"{estate_dir} holds no estate: run this in the estate's directory, or give {give}"
    )


def open_estate_store(
    estate_dir: Path, store_url: str | None, give: str = "--estate DIR or --store-url URL"
) -> Store:
    """The store of the estate at ``estate_dir`` (or ``store_url``), migrated."""
    if not store_url:
        estate, _ = load_estate(estate_dir)
        if not estate.objects:
            raise no_estate(estate_dir, give)
        declared = estate.platform.spec.store.url
        store_url = resolve(declared) if declared else default_store_url(estate.root)
    store = open_store(store_url)
    store.migrate()
    return store


estate_option = click.option(
    "--estate",
    "estate_dir",
    type=click.Path(path_type=Path),
    default=".",
    show_default=True,
    help="The estate whose store to use.",
)
store_url_option = click.option(
    "--store-url", envvar="INTERLINK_STORE_URL", help="Use this store instead of the estate's."
)


@click.group("admin")
def admin_group() -> None:
    """Administer the platform."""


@admin_group.group("token")
def token_group() -> None:
    """Admin API tokens."""


@token_group.command("create")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="viewer",
    show_default=True,
    help="viewer reads; operator also retries, replays and enables; admin also manages tokens "
    "and applies revisions; dataplane only lets a data-plane node "
    "(`interlink serve --control-plane`) read the current revision and report its status.",
)
@click.option("--name", required=True, help="Who or what the token is for.")
@estate_option
@store_url_option
def token_create(role: str, name: str, estate_dir: Path, store_url: str | None) -> None:
    """Issue a token; it is printed once and only its hash is kept."""
    store = open_estate_store(estate_dir, store_url)
    try:
        with store.audit.recording(
            Actor.local(), "token.create", "token", role=role, name=name
        ) as outcome:
            token, info = store.tokens.create(role, name)  # type: ignore[arg-type]
            outcome.target = f"token/{info.id}"
    finally:
        store.close()
    click.echo(token)
    click.echo(f"token {info.id} ({info.role}) for {info.name}: shown once, store it now", err=True)


@token_group.command("list")
@estate_option
@store_url_option
def token_list(estate_dir: Path, store_url: str | None) -> None:
    """Admin tokens: id, role, state, last use and name (never the token itself)."""
    store = open_estate_store(estate_dir, store_url)
    try:
        tokens = store.tokens.list()
    finally:
        store.close()
    for t in tokens:
        state = "revoked" if t.revoked else "active"
        used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
        click.echo(f"{t.id}  {t.role:<8} {state:<7} used {used:<25} {t.name}")


@token_group.command("revoke")
@click.argument("token_id")
@estate_option
@store_url_option
def token_revoke(token_id: str, estate_dir: Path, store_url: str | None) -> None:
    """Revoke an admin token by its id; a running server refuses it within seconds."""
    store = open_estate_store(estate_dir, store_url)
    try:
        with store.audit.recording(Actor.local(), "token.revoke", f"token/{token_id}"):
            store.tokens.revoke(token_id)
    finally:
        store.close()
    click.echo(f"revoked {token_id}")


__all__ = [
    "ConfigError",
    "admin_group",
    "estate_option",
    "no_estate",
    "open_estate_store",
    "store_url_option",
]
