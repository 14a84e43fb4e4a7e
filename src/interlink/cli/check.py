"""`interlink check`: the estate's problems, grouped by file, for people and for CI."""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

import click

from interlink.contracts.gate import gate_findings
from interlink.estate.check import CheckResult, check_estate, sort_key
from interlink.estate.gitref import estate_at
from interlink.estate.rules import RULES


@click.command("check")
@click.argument("directory", type=click.Path(path_type=Path), default=".", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="json suits CI and editors, markdown a pull-request comment",
)
@click.option(
    "--against",
    metavar="GIT_REF",
    help="Also fail changes that break a published contract since GIT_REF.",
)
@click.option(
    "--policy",
    type=click.Choice(["strict", "lenient"]),
    default="strict",
    show_default=True,
    help="JSON Schema compatibility policy for --against",
)
@click.option("--list-rules", is_flag=True, help="List the governance rules and exit.")
@click.pass_context
def check_command(
    ctx: click.Context,
    directory: Path,
    fmt: str,
    against: str | None,
    policy: str,
    list_rules: bool,
) -> None:
    """Check an estate: schema, references, contracts and governance rules.

    Exits 0 when there are no errors (warnings allowed), 1 when there are, 2 when it cannot run.
    """
    if list_rules:
        for rule in RULES:
            click.echo(f"{rule.code:<24} {rule.description}")
        return
    result = check_estate(directory)
    if against:
        with estate_at(against, directory) as old_dir:
            old = check_estate(old_dir)
        result.findings.extend(gate_findings(old.estate, result.estate, policy=policy))
        result.findings.sort(key=sort_key)
    if fmt == "json":
        click.echo(json.dumps(result_json(result), indent=2))
    elif fmt == "markdown":
        click.echo(render_markdown(result, against), nl=False)
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
        for finding in group:
            lines.append("  " + finding.render(root))
            lines.extend("      " + detail for detail in finding.details)
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


def render_markdown(result: CheckResult, against: str | None) -> str:
    root = result.estate.root
    mark = "✅" if result.ok else "❌"
    scope = f" against `{against}`" if against else ""
    lines = [
        f"### {mark} interlink check{scope}",
        "",
        f"{len(result.estate)} objects: {_plural(len(result.errors), 'error')}, "
        f"{_plural(len(result.warnings), 'warning')}",
        "",
    ]
    if result.findings:
        lines += ["| | where | problem |", "|---|---|---|"]
        for f in result.findings:
            icon = "❌" if f.severity == "error" else "⚠️"
            where = f.location.render(root) if f.location else ""
            text = f.message + (f" ({f.hint})" if f.hint else "")
            text += "".join(f"<br>• `{d}`" for d in f.details)
            lines.append(f"| {icon} | `{where}` | {text.replace('|', chr(92) + '|')} |")
        lines.append("")
    return "\n".join(lines)


def _relative(file: Path, root: Path) -> str:
    try:
        return str(file.relative_to(root))
    except ValueError:
        return str(file)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
