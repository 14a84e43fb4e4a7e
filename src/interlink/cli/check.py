"""`interlink check`: the estate's problems, grouped by file, for people and for CI."""

from __future__ import annotations

import json
from datetime import date, datetime
from itertools import groupby
from pathlib import Path

import click

from interlink.connectors.registry import registry
from interlink.contracts.gate import gate_findings
from interlink.estate.approvals import Approval, approvals
from interlink.estate.check import CheckResult, check_estate, sort_key
from interlink.estate.connections import CONNECTION_RULES
from interlink.estate.gitref import estate_at
from interlink.estate.lifecycle import Binding
from interlink.estate.rules import RULES
from interlink.runtime.servable import unservable_routes


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
@click.option(
    "--lifecycle",
    "show_lifecycle",
    is_flag=True,
    help="After the findings, list every binding to a deprecated or retired version.",
)
@click.option(
    "--date",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Judge sunset dates as of this day instead of today.",
)
@click.option(
    "--team",
    "author",
    metavar="TEAM",
    help="With --against: the Team making the change; approvals are asked of the others.",
)
@click.option("--list-rules", is_flag=True, help="List the governance rules and exit.")
@click.pass_context
def check_command(
    ctx: click.Context,
    directory: Path,
    fmt: str,
    against: str | None,
    policy: str,
    show_lifecycle: bool,
    on: datetime | None,
    author: str | None,
    list_rules: bool,
) -> None:
    """Check an estate: schema, references, contracts and governance rules.

    Exits 0 when there are no errors (warnings allowed), 1 when there are, 2 when it cannot run.
    """
    if list_rules:
        for rule in RULES:
            click.echo(f"{rule.code:<24} {rule.description}")
        for code, description in CONNECTION_RULES:
            click.echo(f"{code:<24} {description}")
        return
    today = on.date() if on else date.today()
    result = check_estate(directory, today=today, connectors=registry())
    result.findings.extend(unservable_routes(result))
    result.findings.sort(key=sort_key)
    if against:
        with estate_at(against, directory) as old_dir:
            old = check_estate(old_dir, today=today, connectors=registry())
        result.findings.extend(gate_findings(old.estate, result.estate, policy=policy))
        result.findings.sort(key=sort_key)
        result.approvals = approvals(old.estate, result.estate, author=author)
    if fmt == "json":
        click.echo(json.dumps(result_json(result), indent=2))
    elif fmt == "markdown":
        click.echo(render_markdown(result, against, lifecycle=show_lifecycle), nl=False)
    else:
        click.echo(render_text(result, lifecycle=show_lifecycle), nl=False)
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
        "lifecycle": [b.to_json(root) for b in result.lifecycle],
        "skipped": [_relative(f, root) for f in result.skipped],
        **(
            {"approvals": [a.to_json() for a in result.approvals]}
            if result.approvals is not None
            else {}
        ),
    }


def render_text(result: CheckResult, *, lifecycle: bool = False) -> str:
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
    if result.skipped:
        names = ", ".join(_relative(f, root) for f in result.skipped)
        lines.append(
            f"skipped {_plural(len(result.skipped), 'YAML file')} without Interlink objects: "
            f"{names}"
        )
    if result.approvals is not None:
        lines += ["", *approval_lines(result.approvals)]
    if lifecycle:
        lines += ["", *lifecycle_table(result.lifecycle)]
    return "\n".join(lines) + "\n"


def approval_lines(needed: list[Approval]) -> list[str]:
    """ "Approvals" and a line per Team whose objects the change touches."""
    if not needed:
        return ["Approvals: the change touches no other Team's objects"]
    lines = ["Approvals needed"]
    for approval in needed:
        who = f" ({' '.join(approval.handles)})" if approval.handles else ""
        lines.append(f"  Team/{approval.team}{who}: {', '.join(approval.changes)}")
    return lines


LIFECYCLE_COLUMNS = ("who", "bound to", "via", "state", "sunset", "days left", "successor")


def _lifecycle_row(binding: Binding) -> tuple[str, ...]:
    return (
        binding.who,
        binding.what,
        binding.via or "-",
        binding.state.value,
        binding.sunset.isoformat() if binding.sunset else "-",
        str(binding.days_left) if binding.days_left is not None else "-",
        binding.successor or "-",
    )


def lifecycle_table(bindings: list[Binding]) -> list[str]:
    """ "Lifecycle" and an aligned table of the bindings, most urgent first."""
    if not bindings:
        return ["Lifecycle: nothing is bound to a deprecated or retired version"]
    rows = [LIFECYCLE_COLUMNS, *(_lifecycle_row(b) for b in bindings)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(LIFECYCLE_COLUMNS))]
    days = LIFECYCLE_COLUMNS.index("days left")
    lines = ["Lifecycle"]
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i == days else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def render_markdown(result: CheckResult, against: str | None, *, lifecycle: bool = False) -> str:
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
    if result.approvals:
        lines += ["#### Approvals needed", "", "| team | codeowners | changes |", "|---|---|---|"]
        for a in result.approvals:
            lines.append(f"| {a.team} | {' '.join(a.handles) or '-'} | {', '.join(a.changes)} |")
        lines.append("")
    if lifecycle:
        lines += ["#### Lifecycle", ""]
        if result.lifecycle:
            lines += ["| " + " | ".join(LIFECYCLE_COLUMNS) + " |", "|---" * 7 + "|"]
            lines += ["| " + " | ".join(_lifecycle_row(b)) + " |" for b in result.lifecycle]
        else:
            lines.append("Nothing is bound to a deprecated or retired version.")
        lines.append("")
    return "\n".join(lines)


def _relative(file: Path, root: Path) -> str:
    try:
        return str(file.relative_to(root))
    except ValueError:
        return str(file)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
