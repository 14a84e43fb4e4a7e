"""`interlink catalog search TEXT`: find systems, APIs, events and their fields, data products
and their columns, teams and glossary terms; `interlink catalog term NAME`: one term and where
its data is held."""

from __future__ import annotations

import json
from pathlib import Path

import click

from interlink.cli.admin import estate_option, no_estate
from interlink.cli.inventory import aligned
from interlink.estate.catalog import SEARCH_KINDS, Catalog, Hit, find_term, term_json
from interlink.estate.check import load_contracts
from interlink.estate.findings import EstateLoadError
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate

_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: the admin API's document.",
)


def _estate(estate_dir: Path) -> Estate:
    """The estate with its contracts read (fields come from event schemas); an estate that
    does not load is said as `check` says it."""
    estate, findings = load_estate(estate_dir)
    if any(f.severity == "error" for f in findings):
        raise EstateLoadError(findings)
    if not estate.objects:
        raise no_estate(estate_dir, "--estate DIR")
    load_contracts(estate)
    return estate


@click.group("catalog")
def catalog_group() -> None:
    """Search the estate and read its glossary."""


@catalog_group.command("search")
@click.argument("text")
@click.option(
    "--kind",
    type=click.Choice(list(SEARCH_KINDS), case_sensitive=False),
    help="Only this kind (an event's fields count as the event, a product's columns as it).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 500),
    default=20,
    show_default=True,
    help="At most this many results.",
)
@_format
@estate_option
def search_command(text: str, kind: str | None, limit: int, fmt: str, estate_dir: Path) -> None:
    """Systems, APIs, events and their fields, data products and their columns, teams and
    glossary terms matching TEXT, best first: exact name, then name prefix, then words of
    the name, then mappings and descriptions."""
    estate = _estate(estate_dir)
    hits = Catalog(estate).search(text, kind=kind, limit=limit)
    root = estate.root.resolve()
    if fmt == "json":
        body = {"query": text, "results": [h.to_json(root) for h in hits]}
        click.echo(json.dumps(body, indent=2))
        return
    if not hits:
        click.echo(f"nothing matches {text!r}")
        return
    for line in aligned(("KIND", "NAME", "MATCHED", "WHERE"), [_row(h, root) for h in hits]):
        click.echo(line)


def _row(hit: Hit, root: Path) -> tuple[str, str, str, str]:
    entry = hit.entry
    name = f"{entry.name} {entry.part}" if entry.part else entry.name
    at = hit.location.render(root).rsplit(":", 1)[0]
    shown = hit.text if len(hit.text) <= 60 else hit.text[:57] + "..."
    return entry.kind, name, f"{hit.what}: {shown}", at


@catalog_group.command("term")
@click.argument("name")
@_format
@estate_option
def term_command(name: str, fmt: str, estate_dir: Path) -> None:
    """The glossary term NAME (any case, or one of its synonyms): its definition, owner,
    classification, synonyms, related terms and every place its data is held."""
    estate = _estate(estate_dir)
    body = term_json(find_term(estate, name), estate.root.resolve())
    if fmt == "json":
        click.echo(json.dumps(body, indent=2))
        return
    click.echo(f"{body['name']}  (Glossary/{body['glossary']}, {body['file']}:{body['line']})")
    click.echo(f"  {body['definition']}")
    facts = [f"owner: {body['owner'] or '-'}"]
    if body["classification"]:
        facts.append(f"classification: {body['classification']}")
    facts.append(f"personal data: {'yes' if body['pii'] else 'no'}")
    click.echo("  " + "   ".join(facts))
    if body["synonyms"]:
        click.echo(f"  synonyms: {', '.join(body['synonyms'])}")
    if body["related"]:
        click.echo(f"  related: {', '.join(body['related'])}")
    if not body["mappings"]:
        click.echo("  mapped nowhere yet")
        return
    click.echo("")
    rows = [
        (f"{m['kind']}/{m['name']}", m["place"], f"{m['file']}:{m['line']}")
        for m in body["mappings"]
    ]
    for line in aligned(("HELD IN", "WHERE INSIDE", "DECLARED AT"), rows):
        click.echo("  " + line)
