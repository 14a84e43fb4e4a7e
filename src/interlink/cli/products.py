"""`interlink products list|refresh|query|history`: the estate's data products, run here
against their sources, as a serving node runs them.

``query`` reads a virtual product from its source (a materialised one from its file under the
estate's ``.interlink/products``), with the product's own masking applied; a query that reads
a PII column is recorded in the store's lineage before its rows are shown (a ``read`` by
``cli/USER@HOST``, :mod:`interlink.observe.lineage.reads`); ``refresh`` reads a
materialised product's source, checks the contract and swaps the new data in, recording the
refresh in the estate's store.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from interlink.cli.admin import estate_option, no_estate, open_estate_store, store_url_option
from interlink.errors import InterlinkError
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate
from interlink.observe.lineage.reads import pii_read, read_hop
from interlink.products.filters import parse_filter
from interlink.products.history import RefreshHistory, RefreshRecord, record_json
from interlink.products.query import ProductQuery, QueryResult
from interlink.products.service import Products, product_policy
from interlink.products.storage import data_dir
from interlink.store import Action, Actor, Hop, Store
from interlink.store.audit import local_address

T = TypeVar("T")
_GIVE = "--estate DIR"


def products_dir(estate: Estate) -> Path:
    """Where materialised products are kept: the Platform's shared ``products.dataDir``, else
    beside the estate (a node's default)."""
    return data_dir(estate, estate.root / ".interlink" / "products")


def _estate(estate_dir: Path) -> Estate:
    estate, findings = load_estate(estate_dir)
    if not estate.objects:
        raise no_estate(estate_dir, _GIVE)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        first = errors[0]
        raise InterlinkError(
            f"the estate has {len(errors)} error(s), run `interlink check`: {first.message}"
        )
    return estate


def _with_products(
    estate_dir: Path,
    store_url: str | None,
    work: Callable[[Products], Awaitable[T]],
    audit: tuple[Action, str] | None = None,
    lineage: list[Hop] | None = None,
) -> T:
    """``work`` done on the estate's products; recorded in the audit log as ``audit``'s
    action on its target when given (a change, not a read); the ``lineage`` records ``work``
    left in the list written to the store once it is done."""
    estate = _estate(estate_dir)
    store: Store | None = open_estate_store(estate_dir, store_url, _GIVE)
    assert store is not None

    async def run() -> T:
        products = Products(lambda: estate, products_dir(estate), history=RefreshHistory(store.db))
        try:
            return await work(products)
        finally:
            await products.aclose()

    try:
        if audit is None:
            done = asyncio.run(run())
            if lineage:
                store.lineage.record(lineage)
            return done
        with store.audit.recording(Actor.local(), *audit):
            return asyncio.run(run())
    finally:
        store.close()


@click.group("products")
def products_group() -> None:
    """Data products: list them, refresh a materialised one, query one."""


@products_group.command("list")
@estate_option
@store_url_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(estate_dir: Path, store_url: str | None, as_json: bool) -> None:
    """Every data product: its mode, source and last refresh."""

    async def rows(products: Products) -> list[dict[str, Any]]:
        out = []
        for name in products.names():
            _, product = products.product(name)
            last = products.history.last(name) if products.history else None
            spec = product.spec
            out.append(
                {
                    "name": name,
                    "domain": spec.domain,
                    "mode": spec.mode.value,
                    "source": f"{spec.source.type.value} " + (spec.source.query or "")
                    if spec.source.system is None
                    else f"{spec.source.type.value} {spec.source.system}/{spec.source.location}",
                    "schedule": spec.refresh.schedule if spec.refresh else None,
                    "event": spec.refresh.event if spec.refresh else None,
                    "lastRefresh": record_json(last) if last else None,
                }
            )
        return out

    found = _with_products(estate_dir, store_url, rows)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("no data products")
        return
    table = [("NAME", "MODE", "SOURCE", "LAST REFRESH")]
    for row in found:
        last = row["lastRefresh"]
        said = f"{last['outcome']} {last['finishedAt']}" if last else "-"
        table.append((row["name"], row["mode"], row["source"], said))
    _print_table(table)


@products_group.command("refresh")
@click.argument("name")
@estate_option
@store_url_option
def refresh_command(name: str, estate_dir: Path, store_url: str | None) -> None:
    """Refresh materialised product NAME now (exit 1 when it fails: the last good data stays)."""
    record = _with_products(
        estate_dir,
        store_url,
        lambda products: products.refresh(name),
        ("product.refresh", f"DataProduct/{name}"),
    )
    click.echo(
        f"DataProduct/{name}: refreshed: {record.rows_total} row(s), {record.rows_added} read"
        + (f", cursor {record.cursor}" if record.cursor else "")
    )


@products_group.command("history")
@click.argument("name")
@estate_option
@store_url_option
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="At most this many refreshes, the latest first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history_command(
    name: str, estate_dir: Path, store_url: str | None, limit: int, as_json: bool
) -> None:
    """The latest refreshes of NAME, with what a failed one broke."""

    async def recent(products: Products) -> list[RefreshRecord]:
        products.product(name)
        return products.history.recent(name, limit) if products.history else []

    found = _with_products(estate_dir, store_url, recent)
    if as_json:
        click.echo(json.dumps([record_json(r) for r in found], indent=2))
        return
    if not found:
        click.echo(f"DataProduct/{name} has not been refreshed")
        return
    for record in found:
        said = record.error if record.outcome == "failed" else f"{record.rows_total} row(s)"
        click.echo(f"{record.finished_at.isoformat()}  {record.outcome:<6}  {said}")


@products_group.command("query")
@click.argument("name")
@estate_option
@store_url_option
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="COL=OP:VALUE",
    help="Keep rows where COL OP VALUE (eq ne lt le gt ge in like prefix isnull); repeatable, "
    "AND-ed. COL=VALUE means eq.",
)
@click.option("--columns", metavar="A,B", help="The columns to show (default: all).")
@click.option("--order-by", metavar="A,-B", help="Order by these columns (-: descending).")
@click.option("--limit", type=int, default=100, show_default=True, help="Rows in a page.")
@click.option("--after", metavar="CURSOR", help="The next page's cursor a query printed.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
def query_command(
    name: str,
    estate_dir: Path,
    store_url: str | None,
    filters: tuple[str, ...],
    columns: str | None,
    order_by: str | None,
    limit: int,
    after: str | None,
    as_json: bool,
) -> None:
    """Query data product NAME, its declared masking applied. A query that reads a PII
    column is recorded in the lineage (`interlink lineage trace DataProduct NAME`)."""
    query = ProductQuery(
        columns=tuple(_split(columns)),
        filters=tuple(parse_filter(f) for f in filters),
        order_by=tuple(_split(order_by)),
        limit=limit,
        after=after,
    )
    reads: list[Hop] = []

    async def read(products: Products) -> QueryResult:
        result = await products.query(name, query)
        _, product = products.product(name)
        pii = [c.name for c in products.contract(name).columns if c.pii]
        masks = product_policy(product).masks
        table = result.table
        found = pii_read(pii, query.named(table.column_names), masks, table.num_rows)
        if found is not None:
            reader = f"cli/{local_address()}"
            reads.append(read_hop(name, reader, found, "cli", datetime.now(UTC)))
        return result

    result = _with_products(estate_dir, store_url, read, lineage=reads)
    rows = result.table.to_pylist()
    if as_json:
        click.echo(
            json.dumps({"rows": rows, "next": result.next_cursor}, indent=2, default=_json_value)
        )
        return
    head = tuple(result.table.column_names)
    _print_table([head, *[tuple(_cell(row[c]) for c in head) for row in rows]])
    if result.next_cursor:
        click.echo(f"more: --after {result.next_cursor}")


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _json_value(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
