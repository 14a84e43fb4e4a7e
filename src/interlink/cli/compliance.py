"""`interlink compliance ropa`: the record of processing activities, from the estate."""

from __future__ import annotations

import json
from pathlib import Path

import click

from interlink.cli.admin import no_estate
from interlink.estate.loader import load_estate
from interlink.observe.ropa import record_of_processing, ropa_markdown


@click.group("compliance")
def compliance_group() -> None:
    """Compliance records generated from the estate."""


@compliance_group.command("ropa")
@click.option(
    "--estate",
    "estate_dir",
    type=click.Path(path_type=Path),
    default=".",
    show_default=True,
    help="The estate to describe.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
    help="Markdown to read, or JSON to process.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of standard output.",
)
def ropa_command(estate_dir: Path, fmt: str, output: Path | None) -> None:
    """The GDPR Art. 30 record of processing: per Event carrying personal data, its data
    subjects, categories, purposes, recipients, transfers and retention."""
    estate, _ = load_estate(estate_dir)
    if not estate.objects:
        raise no_estate(estate_dir, "--estate DIR")
    record = record_of_processing(estate)
    text = json.dumps(record, indent=2) + "\n" if fmt == "json" else ropa_markdown(record)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
