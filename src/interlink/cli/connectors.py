"""`interlink connectors`: the connectors this installation has, and what each takes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from interlink.connectors.docs import list_line, show_text, with_reference
from interlink.connectors.registry import BUILT_IN, Registry, registry


@click.group("connectors")
def connectors_group() -> None:
    """The connectors Systems can name: built-in and installed."""


@connectors_group.command("list")
def list_command() -> None:
    """One line per connector: name, interface, capabilities, what it is."""
    found = registry()
    click.echo(f"{'NAME':<12} {'USES':<8} {'CAPABILITIES':<24} DESCRIPTION")
    for spec in found.specs():
        click.echo(list_line(spec))
    for problem in found.problems:
        click.echo(f"interlink: warning: {problem}", err=True)


@connectors_group.command("show")
@click.argument("name")
@click.option(
    "--schema", "as_schema", is_flag=True, help="Print the connection's JSON Schema (2020-12)."
)
def show_command(name: str, as_schema: bool) -> None:
    """A connector's connection fields, capabilities and an example System."""
    spec = registry().get(name).spec
    if as_schema:
        schema = {"title": f"{spec.title} connection", **spec.config}
        click.echo(json.dumps(schema, indent=2))
    else:
        click.echo(show_text(spec), nl=False)


@connectors_group.command("docs")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("docs/connectors.md"),
    show_default=True,
    help="The page whose generated part is rewritten (the text above it is kept).",
)
def docs_command(output: Path) -> None:
    """Rewrite the generated reference of the built-in connectors in docs/connectors.md."""
    page = output.read_text(encoding="utf-8") if output.exists() else ""
    specs = Registry([cls() for cls in BUILT_IN]).specs()
    output.write_text(with_reference(page, specs), encoding="utf-8")
    click.echo(f"wrote {output}")
