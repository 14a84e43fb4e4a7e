"""``interlink diff OLD NEW``: is a contract change compatible?

Exit status: 0 compatible, 1 not compatible, 2 the comparison could not run.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from interlink.contracts import CompatibilityMode, Policy, diff_files
from interlink.errors import InterlinkError


@click.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option(
    "--mode",
    type=click.Choice([m.value for m in CompatibilityMode], case_sensitive=False),
    default=CompatibilityMode.BACKWARD.value,
    show_default=True,
    help="Compatibility mode for JSON Schemas (OpenAPI diffs always check clients).",
)
@click.option(
    "--policy",
    type=click.Choice([p.value for p in Policy], case_sensitive=False),
    default=Policy.STRICT.value,
    show_default=True,
    help="lenient: writers send only the properties their schema names.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json", "markdown"], case_sensitive=False),
    default="text",
    show_default=True,
    help="text for people, json for tools, markdown for a pull request comment.",
)
@click.pass_context
def diff_command(
    ctx: click.Context, old: Path, new: Path, mode: str, policy: str, output: str
) -> None:
    """Compare two versions of an OpenAPI document or JSON Schema."""
    try:
        report = diff_files(old, new, mode=mode, policy=policy)
    except InterlinkError as exc:
        click.echo(f"interlink: error: {exc.message}", err=True)
        ctx.exit(2)
    kind = output.lower()
    if kind == "json":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    elif kind == "markdown":
        click.echo(report.to_markdown(), nl=False)
    else:
        click.echo(report.to_text(), nl=False)
    ctx.exit(0 if report.compatible else 1)
