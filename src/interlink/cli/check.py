"""`interlink check`: the estate's problems, grouped by file, for people and for CI."""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

import click

from interlink.estate.check import CheckResult, check_estate
from interlink.estate.rules import RULES


@click.command("check")
@click.argument("directory", type=click.Path(path_type=Path), default=".", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json suits CI and editors",
)
@click.option("--list-rules", is_flag=True, help="List the governance rules and exit.")
@click.pass_context
def check_command(ctx: click.Context, directory: Path, fmt: str, list_rules: bool) -> None:
    """Check an estate: schema, references, contracts and governance rules.

    Exits 0 when there are no errors (warnings allowed), 1 when there are, 2 when it cannot run.
    """
    if list_rules:
        for rule in RULES:
            click.echo(f"{rule.code:<24} {rule.description}")
        return
    result = check_estate(directory)
    if fmt == "json":
        click.echo(json.dumps(result_json(result), indent=2))
    else:
        click.echo(render_text(result), nl=False)
    ctx.exit(0 if result.ok else 1)


def result_json(result: CheckResult) -> dict[str, object]:
    root = result.estate.root
    return {
        "ok": result.ok,
        "objects": len(result.estate),
        "files": len(result.estate.files),
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "findings": [f.to_json(root) for f in result.findings],
    }


def render_text(result: CheckResult) -> str:
    root = result.estate.root
    lines: list[str] = []
    for file, group in groupby(
        result.findings, key=lambda f: f.location.file if f.location else None
    ):
        lines.append(_relative(file, root) if file else "(estate)")
        lines.extend("  " + finding.render(root) for finding in group)
        lines.append("")
    estate = result.estate
    counts = f"{len(estate)} objects in {len(estate.files)} files"
    if result.findings:
        lines.append(
            f"{counts}: {_plural(len(result.errors), 'error')}, "
            f"{_plural(len(result.warnings), 'warning')}"
        )
    else:
        lines.append(f"{counts}: no problems")
    return "\n".join(lines) + "\n"


def _relative(file: Path, root: Path) -> str:
    try:
        return str(file.relative_to(root))
    except ValueError:
        return str(file)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
