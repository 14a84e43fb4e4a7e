"""`interlink monitors list`: each Monitor of the estate and its latest verdict."""

from __future__ import annotations

import json
from pathlib import Path

import click

from interlink.cli.admin import estate_option, open_estate_store, store_url_option
from interlink.estate.loader import load_estate
from interlink.observe.monitoring import MonitorStatus, statuses


@click.group("monitors")
def monitors_group() -> None:
    """Monitors: SLOs, freshness and anomalies, as evaluated by the running platform."""


def status_line(status: MonitorStatus) -> str:
    """One monitor in a line: name, state, type and target, and when it was evaluated."""
    doc = status.document()
    target = f"{doc['target']['kind']}/{doc['target']['name']}"
    at = doc["evaluatedAt"] or "not evaluated yet"
    return f"{doc['name']}  {doc['state']}  {doc['type']} on {target}  ({at})"


@monitors_group.command("list")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: the admin API's document (GET /api/v1/monitors).",
)
@estate_option
@store_url_option
def list_command(fmt: str, estate_dir: Path, store_url: str | None) -> None:
    """Each Monitor of the estate: firing, ok or pending (not evaluated yet), with the facts
    of its latest verdict in json."""
    estate, _ = load_estate(estate_dir)
    store = open_estate_store(estate_dir, store_url)
    try:
        found = statuses(estate, store.monitor_states.list())
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps({"monitors": [s.document() for s in found]}, indent=2))
        return
    if not found:
        click.echo("no monitors declared")
    for status in found:
        click.echo(status_line(status))
