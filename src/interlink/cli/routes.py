"""`interlink routes compare ROUTE`: how a route's shadow upstream answers, next to its primary."""

from __future__ import annotations

import json
from pathlib import Path

import click

from interlink.cli.admin import estate_option, open_estate_store, store_url_option
from interlink.errors import InterlinkError, NotFound
from interlink.estate.hints import did_you_mean
from interlink.estate.loader import load_estate
from interlink.observe.comparisons import since_time, summary_json
from interlink.store import ComparisonSummary


@click.group("routes")
def routes_group() -> None:
    """Routes of the gateway."""


def summary_text(summary: ComparisonSummary) -> list[str]:
    since = summary.since.isoformat(timespec="seconds")
    rate = summary.match_rate
    if rate is None:
        return [f"route {summary.route}: no comparisons since {since}"]
    lines = [
        f"route {summary.route}: {summary.compared} compared since {since}, "
        f"{summary.matched} matched ({rate:.1%})"
    ]
    if summary.fields:
        width = max(len(name) for name, _ in summary.fields)
        lines.append("top differing fields:")
        for name, count in summary.fields:
            share = count / summary.compared
            lines.append(f"  {name:<{width}}  {count:>8}  {share:6.1%} of compared")
    return lines


@routes_group.command("compare")
@click.argument("route")
@click.option(
    "--since", default="24h", show_default=True, help="How far back: a duration (1h, 24h, 7d)."
)
@click.option(
    "--top",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many of the most often differing fields to list.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: the admin API's comparison document.",
)
@estate_option
@store_url_option
def compare_command(
    route: str, since: str, top: int, fmt: str, estate_dir: Path, store_url: str | None
) -> None:
    """Match rate of ROUTE's shadow upstream and the fields that differ most often."""
    start = since_time(since)
    store = open_estate_store(estate_dir, store_url)
    try:
        summary = store.comparisons.summary(route, start, top)
    finally:
        store.close()
    if summary.compared == 0:
        _known(route, estate_dir)
    if fmt == "json":
        click.echo(json.dumps(summary_json(summary), indent=2))
        return
    for line in summary_text(summary):
        click.echo(line)


def _known(route: str, estate_dir: Path) -> None:
    """Raise NotFound, with a hint, when the estate (if it loads) has no such Route."""
    try:
        estate, _ = load_estate(estate_dir)
    except InterlinkError:
        return
    names = estate.names("Route")
    if route not in names:
        hint = did_you_mean(route, names)
        raise NotFound(f"no Route {route!r} in the estate" + (f" ({hint})" if hint else ""))
