"""`interlink admin token create|list|revoke`: admin API credentials, stored hashed."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import click

from interlink.admin.lookup import known
from interlink.errors import ConfigError
from interlink.estate.durations import parse_duration
from interlink.estate.loader import load_estate
from interlink.estate.references import resolve
from interlink.store import (
    ROLES,
    Actor,
    Store,
    as_role,
    default_store_url,
    open_store,
    token_lifetime,
)


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


def _check_team(estate_dir: Path, team: str) -> None:
    """ConfigError unless the estate at ``estate_dir``, when there is one, declares ``team``."""
    estate, _ = load_estate(estate_dir)
    if estate.objects:
        known("Team", team, estate.names("Team"))


@token_group.command("create")
@click.argument("name_arg", metavar="[NAME]", required=False)
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="viewer",
    show_default=True,
    help="viewer reads; operator also retries, replays and enables; admin also manages tokens "
    "and applies revisions; dataplane only lets a data-plane node "
    "(`interlink serve --control-plane`) read the current revision and report its status.",
)
@click.option(
    "--team",
    help="Limit the role to this Team: it still reads everything, but acts only on what the "
    "Team owns (viewer and operator only).",
)
@click.option(
    "--expires-in",
    help="Refuse the token after this long (12h, 30d); default: never.",
)
@click.option(
    "--name", help="Who or what the token is for: 1 to 64 letters, digits, '.', '_' or '-'."
)
@estate_option
@store_url_option
def token_create(
    name_arg: str | None,
    role: str,
    team: str | None,
    expires_in: str | None,
    name: str | None,
    estate_dir: Path,
    store_url: str | None,
) -> None:
    """Issue a token named NAME (or --name); it is printed once and only its hash is kept."""
    if (name_arg is None) == (name is None):
        raise ConfigError("name the token once: as NAME or with --name")
    label = name_arg if name_arg is not None else name
    assert label is not None
    lifetime = None if expires_in is None else _lifetime(expires_in)
    if team is not None:
        _check_team(estate_dir, team)
    store = open_estate_store(estate_dir, store_url)
    try:
        with store.audit.recording(
            Actor.local(), "token.create", "token", role=role, name=label, team=team
        ) as outcome:
            token, info = store.tokens.create(as_role(role), label, team=team, expires_in=lifetime)
            outcome.target = f"token/{info.id}"
    finally:
        store.close()
    click.echo(token)
    scope = f"{info.role} of team {info.team}" if info.team else info.role
    until = f", expires {_when(info.expires_at)}" if info.expires_at else ""
    click.echo(
        f"token {info.id} ({scope}{until}) for {info.name}: shown once, store it now", err=True
    )


def _lifetime(text: str) -> timedelta:
    try:
        return token_lifetime(parse_duration(text))
    except ValueError as exc:
        raise ConfigError(f"--expires-in: {exc}") from None


def _when(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else "never"


@token_group.command("list")
@estate_option
@store_url_option
def token_list(estate_dir: Path, store_url: str | None) -> None:
    """Admin tokens: id, role, team, state, expiry, last use and name (never the token)."""
    store = open_estate_store(estate_dir, store_url)
    try:
        tokens = store.tokens.list()
        now = store.db.now()
    finally:
        store.close()
    click.echo(f"{'ID':<9} {'ROLE':<9} {'TEAM':<16} {'STATE':<7} {'EXPIRES':<25} {'USED':<25} NAME")
    for t in tokens:
        state = "revoked" if t.revoked else "expired" if t.expired(now) else "active"
        team = t.team or "(platform)"
        click.echo(
            f"{t.id:<9} {t.role:<9} {team:<16} {state:<7} {_when(t.expires_at):<25} "
            f"{_when(t.last_used_at):<25} {t.name}"
        )


@token_group.command("revoke")
@click.argument("token_id")
@estate_option
@store_url_option
def token_revoke(token_id: str, estate_dir: Path, store_url: str | None) -> None:
    """Revoke an admin token by its id; a running server refuses it within seconds. The last
    active platform admin token is kept: create another first."""
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
