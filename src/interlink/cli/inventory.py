"""`interlink inventory`: every connection, declared and observed; `interlink impact`: what a
System, Api or Event reaches. Both read the estate and the store its Platform names."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click

from interlink.cli.admin import estate_option, no_estate, open_estate_store, store_url_option
from interlink.estate.findings import EstateLoadError
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate
from interlink.observe.comparisons import since_time
from interlink.observe.impact import impact, resolve_subject
from interlink.observe.inventory import (
    KINDS,
    Connection,
    Inventory,
    inventory_csv,
    inventory_json,
    read_inventory,
)

since_option = click.option(
    "--since",
    default="7d",
    show_default=True,
    help="The window counted: a duration (24h, 7d, 30d); declared connections with nothing "
    "observed in it are unused.",
)


def _estate(estate_dir: Path) -> Estate:
    estate, findings = load_estate(estate_dir)
    if not estate.objects:
        raise no_estate(estate_dir, "--estate DIR")
    if any(f.severity == "error" for f in findings):
        raise EstateLoadError(findings)
    return estate


def _read(estate_dir: Path, store_url: str | None, since: str) -> tuple[Estate, Inventory]:
    start = since_time(since)
    estate = _estate(estate_dir)
    store = open_estate_store(estate_dir, store_url, "--estate DIR")
    try:
        return estate, read_inventory(estate, store, start, datetime.now(UTC))
    finally:
        store.close()


@click.command("inventory")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "markdown"]),
    default="table",
    show_default=True,
    help="How to print the connections: json is the admin API's document.",
)
@click.option("--undeclared", is_flag=True, help="Only connections observed and not declared.")
@click.option("--unused", is_flag=True, help="Only declared connections with no traffic.")
@click.option("--kind", type=click.Choice(KINDS), help="Only connections of this kind.")
@since_option
@estate_option
@store_url_option
def inventory_command(
    fmt: str,
    undeclared: bool,
    unused: bool,
    kind: str | None,
    since: str,
    estate_dir: Path,
    store_url: str | None,
) -> None:
    """Every connection, declared in the estate and observed by the platform, with its
    traffic, error rate and failure handling; undeclared and unused ones flagged."""
    _, inv = _read(estate_dir, store_url, since)
    rows = inv.filtered(undeclared=undeclared, unused=unused, kind=kind)
    if fmt == "json":
        click.echo(json.dumps(inventory_json(inv, rows), indent=2))
    elif fmt == "csv":
        click.echo(inventory_csv(rows), nl=False)
    elif fmt == "markdown":
        click.echo(inventory_markdown(rows), nl=False)
    else:
        for line in inventory_table(rows):
            click.echo(line)
        click.echo("")
        click.echo(summary_line(inv))


def _flag(conn: Connection) -> str:
    return "UNDECLARED" if conn.undeclared else "unused" if conn.unused else ""


def _rate(conn: Connection) -> str:
    rate = conn.error_rate
    return "-" if rate is None else f"{rate:.1%}"


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:00") if value is not None else "-"


def inventory_table(rows: list[Connection]) -> list[str]:
    head = ("KIND", "FROM", "TO", "HOW", "PER HOUR", "ERRORS", "LAST SEEN", "")
    body = [
        (
            c.kind,
            c.source or "?",
            c.target or "?",
            c.via or ", ".join(sorted(c.operations)) or "-",
            f"{c.per_hour:.2f}",
            _rate(c),
            _day(c.last_seen),
            _flag(c),
        )
        for c in rows
    ]
    return aligned(head, body) if body else ["no connections"]


def aligned(head: tuple[str, ...], body: Sequence[tuple[str, ...]]) -> list[str]:
    """``head`` and ``body`` as lines of columns padded to their widest value."""
    rows = (head, *body)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def summary_line(inv: Inventory) -> str:
    s = inv.summary()
    ratio = s["observedDeclaredRatio"]
    shown = "-" if ratio is None else f"{ratio:.2f}"
    return (
        f"{s['declared']} declared, {s['observed']} observed (ratio {shown}), "
        f"{s['undeclared']} undeclared, {s['unused']} unused since "
        f"{inv.since.isoformat(timespec='seconds')}"
    )


def inventory_markdown(rows: list[Connection]) -> str:
    head = (
        "Kind", "From", "To", "How", "Trigger", "Contracts", "Failure handling", "Owner",
        "Per hour", "Busiest (UTC)", "Error rate", "First seen", "Last seen", "Flag",
    )  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in rows:
        cells = (
            c.kind, c.source, c.target, c.via or ", ".join(sorted(c.operations)), c.trigger,
            "; ".join(c.contracts), c.failure, c.owner or "", f"{c.per_hour:.2f}",
            ", ".join(f"{h:02d}h" for h in c.busiest_hours), _rate(c), _day(c.first_seen),
            _day(c.last_seen), _flag(c),
        )  # fmt: skip
        lines.append("| " + " | ".join(v.replace("|", "\\|") for v in cells) + " |")
    return "\n".join(lines) + "\n"


@click.command("impact")
@click.argument("subject", metavar="SYSTEM|API|EVENT")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "table", "json"]),
    default="tree",
    show_default=True,
    help="tree: what is reached through what; json: the admin API's document.",
)
@since_option
@estate_option
@store_url_option
def impact_command(
    subject: str, fmt: str, since: str, estate_dir: Path, store_url: str | None
) -> None:
    """Everything affected if a System, Api or Event changes or fails: routes, consumers,
    subscriptions, flows, products and teams, over declared and observed connections.
    SUBJECT is KIND/NAME or a NAME only one of them has."""
    estate = _estate(estate_dir)
    key = resolve_subject(estate, subject)
    _, inv = _read(estate_dir, store_url, since)
    result = impact(estate, inv.connections, key)
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    if fmt == "tree":
        for line in result.tree():
            click.echo(line)
    else:
        head = ("DEPTH", "AFFECTED", "HOW", "THROUGH", "OWNER", "SEEN")
        body = [
            (
                str(a.depth),
                a.key,
                a.how,
                a.parent,
                a.owner or "-",
                ("declared" if a.declared else "") + ("+observed" if a.observed else ""),
            )
            for a in result.affected
        ]
        for line in aligned(head, body):
            click.echo(line)
    teams = ", ".join(result.teams) or "none"
    click.echo(f"{len(result.affected)} affected; teams: {teams}")
