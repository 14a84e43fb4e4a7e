"""`interlink lineage trace TYPE KEY`: where one data subject's data went, from the store."""

from __future__ import annotations

import json
from pathlib import Path

import click

from interlink.cli.admin import estate_option, open_estate_store, store_url_option
from interlink.estate.loader import load_estate
from interlink.observe.comparisons import since_time
from interlink.observe.lineage import subject_types, trace_subject


@click.group("lineage")
def lineage_group() -> None:
    """Record-level lineage of data subjects."""


@lineage_group.command("trace")
@click.argument("subject_type", metavar="TYPE")
@click.argument("key")
@click.option("--since", default=None, help="How far back: a duration (24h, 30d); default: all.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["timeline", "graph", "json"]),
    default="timeline",
    show_default=True,
    help="graph: a Mermaid flowchart; json: the admin API's document.",
)
@estate_option
@store_url_option
def trace_command(
    subject_type: str,
    key: str,
    since: str | None,
    fmt: str,
    estate_dir: Path,
    store_url: str | None,
) -> None:
    """Every recorded hop of the data of subject TYPE KEY (customer C000042): who published
    it, where it was delivered, which flow steps transformed it, where it was written, who was
    served it. TYPE DataProduct, KEY a product's name: each read of that product's PII
    columns, by whom, in clear or masked, how many rows."""
    start = since_time(since) if since is not None else None
    store = open_estate_store(estate_dir, store_url)
    try:
        estate, _ = load_estate(estate_dir)
        trace = trace_subject(store, subject_types(estate), subject_type, key, start)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(trace.as_json(), indent=2))
    elif fmt == "graph":
        click.echo(trace.mermaid(), nl=False)
    else:
        click.echo(trace.timeline(), nl=False)
