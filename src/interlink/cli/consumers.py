"""`interlink consumers key create|list|revoke`: API keys of estate Consumers, stored hashed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from interlink.cli.admin import estate_option, no_estate, open_estate_store, store_url_option
from interlink.errors import ConfigError, NotFound
from interlink.estate.durations import parse_duration
from interlink.estate.hints import did_you_mean
from interlink.estate.loader import load_estate
from interlink.store import Actor


@click.group("consumers")
def consumers_group() -> None:
    """Consumers of the estate's APIs and events."""


@consumers_group.group("key")
def key_group() -> None:
    """API keys of a Consumer."""


def _expiry(value: str | None) -> datetime | None:
    if value is None:
        return None
    now = datetime.now(UTC)
    try:
        moment = now + timedelta(seconds=parse_duration(value))
    except ValueError:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(
                f"--expires {value!r}: give a duration (30d, 12h) or an ISO date (2027-01-31)"
            ) from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= now:  # a key that never works is a mistake, not a request
        raise ConfigError(f"--expires {value} is in the past: give a future date or a duration")
    return moment


def _known(consumer: str, names: list[str]) -> None:
    if consumer not in names:
        hint = did_you_mean(consumer, names)
        raise NotFound(f"no Consumer {consumer!r} in the estate" + (f" ({hint})" if hint else ""))


@key_group.command("create")
@click.argument("consumer")
@click.option("--name", default="default", show_default=True, help="What the key is for.")
@click.option("--expires", help="Lifetime (30d, 12h) or an ISO date; default: no expiry.")
@estate_option
@store_url_option
def key_create(
    consumer: str, name: str, expires: str | None, estate_dir: Path, store_url: str | None
) -> None:
    """Issue an API key; it is printed once and only its hash is kept."""
    estate, _ = load_estate(estate_dir)
    if not estate.objects and not store_url:
        raise no_estate(estate_dir)
    _known(consumer, estate.names("Consumer"))
    expires_at = _expiry(expires)
    store = open_estate_store(estate_dir, store_url)
    try:
        until = None if expires_at is None else expires_at.isoformat()
        with store.audit.recording(
            Actor.local(), "consumer_key.create", f"consumer/{consumer}", name=name, expires=until
        ) as outcome:
            key, info = store.consumer_keys.create(consumer, name, expires_at)
            outcome.details["key_id"] = info.id
    finally:
        store.close()
    click.echo(key)
    until = f", expires {expires_at.isoformat(timespec='seconds')}" if expires_at else ""
    click.echo(f"key {info.id} for {consumer}{until}: shown once, store it now", err=True)


@key_group.command("list")
@click.argument("consumer", required=False)
@estate_option
@store_url_option
def key_list(consumer: str | None, estate_dir: Path, store_url: str | None) -> None:
    """Keys of one consumer, or of all."""
    store = open_estate_store(estate_dir, store_url)
    try:
        keys = store.consumer_keys.list(consumer)
    finally:
        store.close()
    if consumer is not None and not keys:  # keys of a Consumer since removed are still listed
        estate, _ = load_estate(estate_dir)
        if estate.objects:  # with only --store-url there is no estate to know names from
            _known(consumer, estate.names("Consumer"))
    now = datetime.now(UTC)
    for k in keys:
        state = "revoked" if k.revoked else "active" if k.usable(now) else "expired"
        until = k.expires_at.isoformat(timespec="seconds") if k.expires_at else "never"
        click.echo(f"{k.id}  {k.consumer:<20} {state:<7} expires {until:<25} {k.name}")


@key_group.command("revoke")
@click.argument("key_id")
@estate_option
@store_url_option
def key_revoke(key_id: str, estate_dir: Path, store_url: str | None) -> None:
    """Revoke a key; a running server stops accepting it within seconds."""
    store = open_estate_store(estate_dir, store_url)
    try:
        with store.audit.recording(Actor.local(), "consumer_key.revoke", f"key/{key_id}"):
            store.consumer_keys.revoke(key_id)
    finally:
        store.close()
    click.echo(f"revoked {key_id}")
