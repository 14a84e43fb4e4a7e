"""`interlink secrets set|rotate|list|delete|rewrap`: the encrypted secret store.

A value is read from stdin (a hidden prompt on a terminal) or ``--from-file``, never from an
argument (it would sit in the shell's history and the process list), and is never printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import click

from interlink.cli.admin import estate_option, open_estate_store, store_url_option
from interlink.errors import ConfigError
from interlink.runtime.runtime import default_operator
from interlink.store import Action, Actor, Store
from interlink.vault import Vault, check_name, require_master_keys
from interlink.vault.master_keys import read_key_file

from_file_option = click.option(
    "--from-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read the value from this file (all of it, one trailing newline dropped); default: stdin.",
)


@click.group("secrets")
def secrets_group() -> None:
    """The encrypted secret store that ${secret:NAME} resolves from."""


def _value(from_file: Path | None) -> str:
    if from_file is not None:
        try:
            text = from_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--from-file {from_file}: cannot read it ({exc})") from None
    elif sys.stdin.isatty():
        text = click.prompt("value", hide_input=True, confirmation_prompt=True, err=True)
    else:
        text = sys.stdin.read()
    return text.removesuffix("\n").removesuffix("\r")


def _vault(estate_dir: Path, store_url: str | None) -> tuple[Vault, Store]:
    keys = require_master_keys()  # first: no store is opened for nothing
    store = open_estate_store(estate_dir, store_url)
    return Vault(store, keys), store


@secrets_group.command("set")
@click.argument("name")
@from_file_option
@estate_option
@store_url_option
def set_command(name: str, from_file: Path | None, estate_dir: Path, store_url: str | None) -> None:
    """Store a new secret (refused when NAME exists: use rotate)."""
    _store_value("set", name, from_file, estate_dir, store_url)


@secrets_group.command("rotate")
@click.argument("name")
@from_file_option
@estate_option
@store_url_option
def rotate_command(
    name: str, from_file: Path | None, estate_dir: Path, store_url: str | None
) -> None:
    """Give a secret a new value, as a new version; running nodes use it within seconds."""
    _store_value("rotate", name, from_file, estate_dir, store_url)


def _store_value(
    change: Literal["set", "rotate"],
    name: str,
    from_file: Path | None,
    estate_dir: Path,
    store_url: str | None,
) -> None:
    """Read the value, store it as NAME's first (set) or next (rotate) version, and audit it."""
    check_name(name)
    value = _value(from_file)
    vault, store = _vault(estate_dir, store_url)
    action: Action = "secret.set" if change == "set" else "secret.rotate"
    try:
        with store.audit.recording(Actor.local(), action, f"secret/{name}") as outcome:
            store_it = vault.set if change == "set" else vault.rotate
            row = store_it(name, value, by=default_operator())
            outcome.details["version"] = row.version
    finally:
        store.close()
    click.echo(
        f"secret {row.name} {'set' if change == 'set' else 'rotated'} (version {row.version})"
    )


@secrets_group.command("list")
@estate_option
@store_url_option
def list_command(estate_dir: Path, store_url: str | None) -> None:
    """Names, versions and last change of the stored secrets (never their values)."""
    store = open_estate_store(estate_dir, store_url)  # listing needs no master key
    try:
        found = store.secrets.summaries()
    finally:
        store.close()
    for s in found:
        updated = s.updated_at.isoformat(timespec="seconds")
        click.echo(f"{s.name:<32} version {s.version:<4} updated {updated}")


@secrets_group.command("delete")
@click.argument("name")
@estate_option
@store_url_option
def delete_command(name: str, estate_dir: Path, store_url: str | None) -> None:
    """Remove a secret and all its versions."""
    vault, store = _vault(estate_dir, store_url)
    try:
        with store.audit.recording(Actor.local(), "secret.delete", f"secret/{name}"):
            vault.delete(name, by=default_operator())
    finally:
        store.close()
    click.echo(f"secret {name} deleted")


@secrets_group.command("rewrap")
@click.option(
    "--new-key",
    "new_key_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A file holding the master key (base64) to wrap under; default: the primary key "
    "(INTERLINK_MASTER_KEY). The keys configured as primary and previous open the old wraps.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Rows rewrapped per transaction.",
)
@click.option(
    "--pause",
    type=click.FloatRange(0, 60),
    default=0.0,
    show_default=True,
    help="Seconds to wait between batches, to spare a busy database.",
)
@estate_option
@store_url_option
def rewrap_command(
    new_key_file: Path | None,
    batch_size: int,
    pause: float,
    estate_dir: Path,
    store_url: str | None,
) -> None:
    """Wrap every data key, the platform's signing keys' too, under the new master key; safe
    to stop and run again."""
    target = read_key_file(new_key_file, "--new-key")[0] if new_key_file is not None else None
    vault, store = _vault(estate_dir, store_url)

    def progress(done: int, left: int) -> None:
        click.echo(f"rewrapped {done}, {left} left", err=True)

    try:
        with store.audit.recording(Actor.local(), "secret.rewrap", "secrets") as outcome:
            result = vault.rewrap(
                target, by=default_operator(), batch=batch_size, pause=pause, progress=progress
            )
            outcome.details.update(
                rewrapped=result.rewrapped,
                platform_keys=result.platform_keys,
                unreadable=len(result.unreadable),
            )
    finally:
        store.close()
    goal = (target or vault.keys.primary).id
    click.echo(f"rewrapped {result.rewrapped} secret version(s) under master key {goal}")
    click.echo(f"rewrapped {result.platform_keys} platform signing key(s) under master key {goal}")
    if result.unreadable:
        raise ConfigError(
            f"{len(result.unreadable)} secret version(s) or signing key(s) are under a master "
            f"key that is not configured: {', '.join(result.unreadable[:10])}"
        )
