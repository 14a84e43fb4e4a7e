"""`interlink alerts list|silence|unsilence|silences`: the alerts of the estate's store, read
and silenced here (a running node sees the same book)."""

from __future__ import annotations

import getpass
import json
from collections.abc import Sequence
from pathlib import Path

import click

from interlink.alerts.report import (
    State,
    alert_documents,
    notification_status,
    silence,
    silence_document,
)
from interlink.cli.admin import estate_option, no_estate, open_estate_store, store_url_option
from interlink.errors import ConfigError
from interlink.estate.durations import parse_duration
from interlink.estate.loader import load_estate
from interlink.store import Actor

_SUMMARY_WIDTH = 90


@click.group("alerts")
def alerts_group() -> None:
    """Alerts raised by the estate's Monitors, and the silences that hold their notifications."""


format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people, JSON for scripts.",
)


@alerts_group.command("list")
@click.option(
    "--state",
    type=click.Choice(["firing", "resolved", "all"]),
    default="firing",
    show_default=True,
    help="Which alerts.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="At most this many alerts, the latest first.",
)
@format_option
@estate_option
@store_url_option
def list_command(
    state: State, limit: int, fmt: str, estate_dir: Path, store_url: str | None
) -> None:
    """The alerts, newest first: what fires (or fired), since when, and how it was told."""
    with open_estate_store(estate_dir, store_url) as store:
        found = alert_documents(store.alerts, state, limit, store.alerts.now())
    if fmt == "json":
        click.echo(json.dumps({"alerts": found}, indent=2))
        return
    if not found:
        click.echo(f"no {'' if state == 'all' else state + ' '}alerts")
        return
    rows = [
        (
            str(a["id"]),
            a["state"] + (" (silenced)" if a["silenced_by"] is not None else ""),
            a["severity"],
            a["monitor"],
            a["started_at"][:16].replace("T", " "),
            notification_status(a["notifications"]),
            _short(a["summary"]),
        )
        for a in found
    ]
    _table(("ID", "STATE", "SEVERITY", "MONITOR", "SINCE (UTC)", "TOLD", "SUMMARY"), rows)


@alerts_group.command("silence")
@click.argument("monitor", required=False)
@click.option("--target", help="Silence every alert of this target instead: Kind/name.")
@click.option("--for", "duration", required=True, help="How long: 2h, 30m, 1d (at most 30d).")
@click.option("--reason", required=True, help="Why, for whoever sees the alert meanwhile.")
@estate_option
@store_url_option
def silence_command(
    monitor: str | None,
    target: str | None,
    duration: str,
    reason: str,
    estate_dir: Path,
    store_url: str | None,
) -> None:
    """Hold back the notifications of MONITOR's alerts (or a target's) for a while; the alerts
    stay listed."""
    if (monitor is None) == (target is None):
        raise ConfigError("name a MONITOR or give --target Kind/name, one of them")
    try:
        seconds = parse_duration(duration)
    except ValueError:
        raise ConfigError(f"--for {duration!r}: give a duration such as 2h, 30m or 1d") from None
    estate, _ = load_estate(estate_dir)
    if not estate.objects and not store_url:
        raise no_estate(estate_dir)
    what = f"monitor/{monitor}" if monitor else str(target)
    with (
        open_estate_store(estate_dir, store_url) as store,
        store.audit.recording(
            Actor.local(), "alert.silence", what, seconds=seconds, reason=reason
        ) as outcome,
    ):
        made = silence(
            store.alerts,
            estate,
            monitor=monitor,
            target=target,
            seconds=seconds,
            reason=reason,
            by=f"cli:{getpass.getuser()}",
        )
        outcome.details["silence"] = made.id
    what = f"monitor {monitor}" if monitor else f"target {target}"
    click.echo(f"silence {made.id}: {what} until {made.expires_at:%Y-%m-%d %H:%M} UTC ({reason})")


@alerts_group.command("unsilence")
@click.argument("silence_id", type=int)
@estate_option
@store_url_option
def unsilence_command(silence_id: int, estate_dir: Path, store_url: str | None) -> None:
    """End silence SILENCE_ID now."""
    with (
        open_estate_store(estate_dir, store_url) as store,
        store.audit.recording(Actor.local(), "alert.unsilence", f"silence/{silence_id}"),
    ):
        store.alerts.lift(silence_id, store.alerts.now())
    click.echo(f"silence {silence_id} lifted")


@alerts_group.command("silences")
@click.option("--all", "everything", is_flag=True, help="Ended and expired ones too.")
@format_option
@estate_option
@store_url_option
def silences_command(everything: bool, fmt: str, estate_dir: Path, store_url: str | None) -> None:
    """The active silences, soonest to end first."""
    with open_estate_store(estate_dir, store_url) as store:
        found = store.alerts.silences(None if everything else store.alerts.now())
    documents = [silence_document(s) for s in found]
    if fmt == "json":
        click.echo(json.dumps({"silences": documents}, indent=2))
        return
    if not documents:
        click.echo("no silences")
        return
    rows = [
        (
            str(s["id"]),
            f"monitor {s['monitor']}" if s["monitor"] else f"target {s['target']}",
            s["expires_at"][:16].replace("T", " "),
            s["created_by"],
            _short(s["reason"]),
        )
        for s in documents
    ]
    _table(("ID", "SILENCES", "UNTIL (UTC)", "BY", "REASON"), rows)


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _SUMMARY_WIDTH else line[: _SUMMARY_WIDTH - 1] + "…"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
