"""`interlink export asyncapi|backstage|openapi|odcs|codeowners`: the estate as other software
reads it.

Only a clean estate is exported: with errors, they are printed as `interlink check` prints them
(on stderr, so nothing half-made lands where the export was going) and the exit code is 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from interlink.cli.check import render_text
from interlink.connectors.registry import registry
from interlink.contracts.asyncapi import asyncapi_document
from interlink.contracts.backstage import backstage_entities
from interlink.contracts.export_format import FORMATS, render, to_yaml_all
from interlink.contracts.odcs_export import odcs_document
from interlink.contracts.openapi_export import route_openapi
from interlink.errors import InterlinkError
from interlink.estate.approvals import codeowners
from interlink.estate.check import check_estate
from interlink.estate.gitref import repository_prefix
from interlink.estate.model import Estate
from interlink.runtime.snapshot import content_hash

_directory = click.argument(
    "directory", type=click.Path(path_type=Path), default=".", required=False
)
_output = click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Write to FILE instead of stdout.",
)
_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Default: json for an --output ending in .json, else yaml.",
)


def _checked(ctx: click.Context, directory: Path) -> Estate:
    result = check_estate(directory, connectors=registry())
    if not result.runnable:
        click.echo(render_text(result), nl=False, err=True)
        ctx.exit(1)
    return result.estate


def _chosen_format(fmt: str | None, output: Path | None) -> str:
    if fmt:
        return fmt
    return "json" if output is not None and output.suffix.lower() == ".json" else "yaml"


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InterlinkError(f"cannot write {output}: {exc.strerror}") from exc
    click.echo(f"wrote {output}")


@click.group("export")
def export_group() -> None:
    """Export the estate as AsyncAPI, a Backstage catalog, a Route's OpenAPI, a data
    product's ODCS contract or a CODEOWNERS file."""


@export_group.command("asyncapi")
@_directory
@_output
@_format
@click.pass_context
def asyncapi_command(
    ctx: click.Context, directory: Path, output: Path | None, fmt: str | None
) -> None:
    """One AsyncAPI 3.0.0 document of every event, publisher and subscription."""
    estate = _checked(ctx, directory)
    doc = asyncapi_document(estate, version=content_hash(estate)[:12])
    _write(render(doc, _chosen_format(fmt, output)), output)


@export_group.command("backstage")
@_directory
@_output
@click.option(
    "--inline",
    is_flag=True,
    help="Put contract text into the catalog instead of $text references to the files.",
)
@click.pass_context
def backstage_command(
    ctx: click.Context, directory: Path, output: Path | None, inline: bool
) -> None:
    """A Backstage catalog (catalog-info.yaml): teams, systems, APIs, events, data products.

    $text references are relative to the folder of --output, or to the current directory when
    the catalog is printed.
    """
    estate = _checked(ctx, directory)
    base = None if inline else (output.parent if output is not None else Path.cwd())
    _write(to_yaml_all(backstage_entities(estate, definitions=base)), output)


@export_group.command("openapi")
@click.argument("route")
@_directory
@_output
@_format
@click.option("--server", metavar="URL", help="The gateway's public URL (default: its listen).")
@click.pass_context
def openapi_command(
    ctx: click.Context,
    route: str,
    directory: Path,
    output: Path | None,
    fmt: str | None,
    server: str | None,
) -> None:
    """The OpenAPI document of ROUTE as callers of the gateway see it."""
    estate = _checked(ctx, directory)
    doc = route_openapi(estate, route, server=server)
    _write(render(doc, _chosen_format(fmt, output)), output)


@export_group.command("odcs")
@click.argument("product")
@_directory
@_output
@_format
@click.pass_context
def odcs_command(
    ctx: click.Context, product: str, directory: Path, output: Path | None, fmt: str | None
) -> None:
    """The Open Data Contract Standard (v3) contract of data product PRODUCT."""
    estate = _checked(ctx, directory)
    _write(render(odcs_document(estate, product), _chosen_format(fmt, output)), output)


@export_group.command("codeowners")
@_directory
@_output
@click.option(
    "--prefix",
    metavar="PATH",
    help="The estate's folder inside the repository (default: found with git).",
)
@click.pass_context
def codeowners_command(
    ctx: click.Context, directory: Path, output: Path | None, prefix: str | None
) -> None:
    """A CODEOWNERS file: each estate and contract file owned by its objects' Teams.

    Teams name their handles in spec.codeowners; a Team that names none is reported on stderr
    and its files get no line.
    """
    estate = _checked(ctx, directory)
    where = repository_prefix(directory) if prefix is None else prefix.strip("/")
    text, silent = codeowners(estate, where)
    for team in silent:
        click.echo(f"interlink: warning: Team/{team} has no spec.codeowners", err=True)
    _write(text, output)
