"""A data product over HTTP: a Route with ``product: NAME`` (conventionally at
``/data/NAME``) answers queries of that DataProduct.

After the route's policies (authentication, plans and rate limits, lifecycle), exactly as for
an Api:

- ``GET <path>``: one page of rows. ``columns=a,b``; ``filter=col:op:value`` (repeatable) or
  ``col=value``; ``sort=col,-col``; ``limit``; ``cursor`` (the ``next`` of the page before).
  ``Accept`` picks JSON (``{"data": [...], "next": cursor}``, the default), CSV, Parquet or
  Arrow IPC stream; a next page is also in ``Link: <…>; rel="next"`` and ``Interlink-Next``.
- ``POST <path>/sql``: read-only SQL (DuckDB dialect, ``text/plain`` or ``application/sql``
  body) over the products the caller may read (:mod:`interlink.products.sql`), answered in the
  same formats.

The caller's policy (masks, unmasked for scopes it holds; its row filter) is resolved from the
product's declaration and applied inside DuckDB's statement. A bad query parameter or SQL is
400, a source that is down or data that breaks the contract 502, a product not refreshed yet
503: problem+json, never a partial or unmasked answer.

Where the process has a lineage recorder, every answer that reads a PII column (a page that
returns, filters or sorts on one; each product a SQL statement reads) is a ``read`` record
naming the caller, the PII columns in clear and masked, and the rows
(:mod:`interlink.observe.lineage.reads`); a page of a product that declares a ``subject`` is
also a ``served`` hop per row under that subject.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, quote

from interlink.errors import InterlinkError
from interlink.estate.kinds.data import DataProduct
from interlink.estate.kinds.gateway import Route
from interlink.estate.model import Estate, Loaded
from interlink.estate.not_yet import PRODUCT_SOURCES_READ
from interlink.estate.product_rules import contract_of
from interlink.gateway.policy import Unsupported
from interlink.gateway.publish_route import Handler, read_body
from interlink.gateway.request import Request
from interlink.gateway.responder import Responder
from interlink.gateway.services import GatewayServices
from interlink.gateway.state import StateKey
from interlink.http.streams import BodyError
from interlink.observe.lineage.reads import pii_read
from interlink.products import formats
from interlink.products.access import policy_for
from interlink.products.errors import NotRefreshed
from interlink.products.filters import Filter, FilterError, parse_filter
from interlink.products.query import Policy, ProductQuery
from interlink.products.sql import SqlRefused, SqlTimeout, run_sql

if TYPE_CHECKING:
    import pyarrow as pa

    from interlink.observe.lineage import LineageRecorder
    from interlink.products.service import Products

log = logging.getLogger("interlink.gateway")

SQL_SUFFIX: Final = "/sql"
NEXT_HEADER: Final = b"interlink-next"
_SERVED: Final[StateKey[dict[str, list[Served]]]] = StateKey("served-products")
#: What the caller asked wrongly or too much of, answered with its own status; any other
#: failure is the source's (a 404 from a connector is a missing file, not a missing page): 502,
#: or 503 when there is no data yet.
_CALLERS_FAULT: Final = (FilterError, SqlRefused, SqlTimeout, NotRefreshed)
#: Query parameters with a meaning of their own; any other is ``column=value``.
_RESERVED: Final = frozenset({"columns", "filter", "sort", "limit", "cursor"})
#: Notes one read: (request, product, its PII columns, the columns read, policy, rows, via).
ReadNote = Callable[[Request, str, list[str], set[str], Policy, int, str], None]
#: A product a SQL statement read: (product, its PII columns, the columns read, policy, rows).
_Read = tuple[str, list[str], set[str], Policy, int]


@dataclass(frozen=True)
class Served:
    """A product some product route serves, and what that route asks of a caller."""

    product: DataProduct
    authenticated: bool  # the route has auth: an anonymous caller cannot read it
    scopes: frozenset[str]  # and these scopes are required

    def readable_by(self, consumer: str | None, scopes: frozenset[str]) -> bool:
        if not self.authenticated:
            return True
        return consumer is not None and self.scopes <= scopes


def served_products(estate: Estate) -> dict[str, list[Served]]:
    """Every product a route serves, with each of its routes' requirements."""
    found: dict[str, list[Served]] = {}
    for route in estate.of(Route):
        name = route.spec.product
        item = estate.get("DataProduct", name) if name else None
        if name is None or item is None or not isinstance(item.obj, DataProduct):
            continue
        auth = route.spec.auth
        scopes = frozenset(auth.scopes) if auth else frozenset[str]()
        found.setdefault(name, []).append(Served(item.obj, auth is not None, scopes))
    return found


def served_product(route: Route, estate: Estate) -> tuple[Loaded, DataProduct]:
    """The DataProduct ``route`` serves; raises Unsupported when it is missing or not read."""
    name = route.spec.product
    assert name is not None
    item = estate.get("DataProduct", name)
    if item is None or not isinstance(item.obj, DataProduct):
        raise Unsupported(f"serves DataProduct/{name}, which does not exist")
    if item.obj.spec.source.type.value not in PRODUCT_SOURCES_READ:
        raise Unsupported(f"serves DataProduct/{name}, whose source is not read yet")
    return item, item.obj


def compile_product(route: Route, estate: Estate, services: GatewayServices) -> Handler:
    """The handler serving ``route``; raises Unsupported when it cannot be served here."""
    item, product = served_product(route, estate)
    name = product.metadata.name
    products = services.products
    if products is None:
        raise Unsupported(f"serves DataProduct/{name}, but this gateway process reads no products")
    try:
        pii = [c.name for c in contract_of(item).columns if c.pii]
    except ValueError as exc:
        raise Unsupported(f"DataProduct/{name}: {exc}") from exc
    served = services.per_estate(estate, _SERVED, lambda: served_products(estate))
    endpoint = ProductEndpoint(
        products,
        product,
        route.spec.match.path.rstrip("/"),
        served,
        _hops(services.lineage, product, pii),
        _reads(services.lineage),
        pii,
    )
    return endpoint.serve


@dataclass(frozen=True)
class ProductEndpoint:
    products: Products
    product: DataProduct
    base: str  # the route's path
    served: dict[str, list[Served]]  # every product a route serves: what SQL may read
    record: Callable[[Request, pa.Table, Policy], None]  # the served hops of a subject's rows
    note: ReadNote  # a read of PII columns
    pii: list[str]  # the product's PII columns, in the contract's order

    @property
    def name(self) -> str:
        return self.product.metadata.name

    async def serve(self, request: Request, conn: Responder) -> None:
        media = formats.choose(_header(request, b"accept"))
        if media is None:
            accepted = ", ".join(m for m in formats.MEDIA if "*" not in m)
            conn.send_problem(request, 406, f"{self.name} is served as {accepted}")
            return
        try:
            answer = await self._answer(request, conn)
            if answer is None:
                return
            table, next_cursor = answer
            extra = {"next": next_cursor} if request.path != self.base + SQL_SUFFIX else {}
            body = formats.encode(table, media, extra)
        except BodyError as exc:
            conn.send_problem(request, exc.status, exc.message, title=exc.title)
            return
        except _CALLERS_FAULT as exc:
            conn.send_problem(request, exc.status, exc.message, title=exc.title)
            return
        except InterlinkError as exc:  # the source, its data or the node: never the caller's
            log.warning("DataProduct/%s: %s", self.name, exc.message)
            title = exc.title if exc.status >= 500 else "Data product source failed"
            conn.send_problem(request, max(exc.status, 502), exc.message, title=title)
            return
        headers = [
            (b"content-type", media.encode()),
            (b"x-request-id", request.request_id.encode()),
        ]
        if next_cursor is not None:
            link = f'<{self.base}?{_next_query(request.query, next_cursor)}>; rel="next"'
            headers += [(b"link", link.encode()), (NEXT_HEADER, next_cursor.encode())]
        head = request.method == "HEAD"
        request.product = f"DataProduct/{self.name}"  # the inventory's read, once answered
        conn.respond(request, 200, headers, b"" if head else body, length=len(body))

    async def _answer(
        self, request: Request, conn: Responder
    ) -> tuple[pa.Table, str | None] | None:
        """The rows asked for and the next page's cursor; None when already answered."""
        sql_path = self.base + SQL_SUFFIX
        if request.path == sql_path:
            if request.method != "POST":
                allow = [(b"allow", b"POST")]
                conn.send_problem(request, 405, "send the SQL as a POST body", headers=allow)
                return None
            return await self._sql(request), None
        if request.path.rstrip("/") != self.base or request.method not in ("GET", "HEAD"):
            detail = f"{request.method} {request.path}: {self.name} answers GET {self.base or '/'}"
            conn.send_problem(request, 404, f"{detail} and POST {sql_path}")
            return None
        query = parse_query(request.query)
        granted = _policy(request, self.product)
        result = await self.products.query(self.name, query, granted)
        if request.method == "GET":  # a HEAD answers no rows: nothing of them was read
            table = result.table
            self.record(request, table, granted)
            named = query.named(table.column_names)
            self.note(request, self.name, self.pii, named, granted, table.num_rows, "page")
        return result.table, result.next_cursor

    async def _sql(self, request: Request) -> pa.Table:
        text = (await read_body(request)).decode("utf-8", errors="replace")
        consumer, scopes = _caller(request)
        readable: dict[str, Callable[[], Awaitable[pa.Table]]] = {}
        read: list[_Read] = []
        for other, routes in self.served.items():
            if other == self.name or any(r.readable_by(consumer, scopes) for r in routes):
                policy = _policy(request, routes[0].product)
                readable[other] = _reader(self.products, other, policy, read)
        answer = await run_sql(text, readable)
        for name, pii, named, policy, rows in read:  # noted once the statement answered
            self.note(request, name, pii, named, policy, rows, "sql")
        return answer


def _policy(request: Request, product: DataProduct) -> Policy:
    consumer, scopes = _caller(request)
    return policy_for(product.spec.masking, product.spec.row_filters, consumer, scopes)


def _reader(
    products: Products, name: str, policy: Policy, done: list[_Read]
) -> Callable[[], Awaitable[pa.Table]]:
    """A product as a SQL statement reads it (only when the statement names it): whole,
    under the caller's policy, kept in ``done`` with its PII columns."""

    async def read() -> pa.Table:
        result = await products.query(name, ProductQuery(), policy)
        if result.next_cursor is not None:
            raise FilterError(f"{name} has more rows than SQL reads at once: query it in pages")
        pii = [c.name for c in products.contract(name).columns if c.pii]
        table = result.table
        done.append((name, pii, set(table.column_names), policy, table.num_rows))
        return table

    return read


def parse_query(query: bytes) -> ProductQuery:
    """The product query a request's query string asks; FilterError naming what is wrong."""
    columns: tuple[str, ...] = ()
    filters: list[Filter] = []
    order: tuple[str, ...] = ()
    limit: int | None = None
    cursor: str | None = None
    try:
        pairs = parse_qsl(query.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise FilterError("the query string is not UTF-8") from None
    for key, value in pairs:
        if key == "columns":
            columns = _list(value, key)
        elif key == "filter":
            column, sep, rest = value.partition(":")
            if not sep:
                raise FilterError(f"a filter is column:op:value, not {value!r}")
            filters.append(parse_filter(f"{column}={rest}"))
        elif key == "sort":
            order = _list(value, key)
        elif key == "limit":
            if not value.isdigit():
                raise FilterError(f"limit is a whole number, not {value!r}")
            limit = int(value)
        elif key == "cursor":
            cursor = value
        else:
            filters.append(parse_filter(f"{key}={value}"))
    return ProductQuery(columns, tuple(filters), order, limit, cursor)


def _list(value: str, key: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise FilterError(f"{key} names no column")
    return items


def _next_query(query: bytes, cursor: str) -> str:
    kept = [(k, v) for k, v in parse_qsl(query.decode("utf-8", errors="replace")) if k != "cursor"]
    kept.append(("cursor", cursor))
    return "&".join(f"{quote(k, safe='')}={quote(v, safe=',:-')}" for k, v in kept)


def _caller(request: Request) -> tuple[str | None, frozenset[str]]:
    identity = request.identity
    if identity is None:
        return None, frozenset()
    return identity.consumer, identity.scopes


def _reads(lineage: LineageRecorder | None) -> ReadNote:
    """What records a read of PII columns: one ``read`` record, whatever the product
    declares; a read of no PII column records nothing."""

    def note(
        request: Request,
        product: str,
        pii: list[str],
        named: set[str],
        policy: Policy,
        rows: int,
        via: str,
    ) -> None:
        if lineage is None:
            return
        read = pii_read(pii, named, policy.masks, rows)
        if read is not None:
            lineage.read(product, _reader_key(request), read, via)

    return note


def _reader_key(request: Request) -> str:
    consumer, _ = _caller(request)
    return f"Consumer/{consumer}" if consumer else f"Route/{request.route}"


def _hops(
    lineage: LineageRecorder | None, product: DataProduct, pii: list[str]
) -> Callable[[Request, pa.Table, Policy], None]:
    """What records a served page: a ``served`` hop per row, keyed by the subject's column,
    when the product has a subject and the page holds a PII column (nothing otherwise)."""
    subject = product.spec.subject
    actor = f"DataProduct/{product.metadata.name}"

    def record(request: Request, table: pa.Table, policy: Policy) -> None:
        if lineage is None or subject is None:
            return
        shown = [c for c in pii if c in table.column_names]
        key = subject.key
        if not shown or key not in table.column_names or policy.hidden(key):
            return
        target = _reader_key(request)
        detail = ",".join(shown)
        for value in table.column(key).to_pylist():
            if value is not None:
                lineage.hop((subject.type, str(value)), "served", actor, target, detail)

    return record


def _header(request: Request, name: bytes) -> bytes | None:
    for key, value in request.headers:
        if key == name:
            return value
    return None
