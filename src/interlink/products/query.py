"""The query interface of a data product: what a caller asks (:class:`ProductQuery`), what
the caller may see (:class:`Policy`: masks and a row filter, applied inside DuckDB's SQL) and
what comes back (:class:`QueryResult`: an Arrow table and the cursor of the next page).

The statement is built in two levels so that a policy cannot be worked around::

    SELECT <columns> FROM (
        SELECT <each column, masked where the policy says> FROM <rows> WHERE <row filter>
    ) WHERE <the caller's filters> ORDER BY … LIMIT … OFFSET …

The row filter sees the real values; the caller's filters and ordering see only the masked
ones, so a filter on a masked column cannot probe for a hidden value. Identifiers are quoted
and every value is a parameter.

>>> q = ProductQuery(columns=("id",), filters=(Filter("id", Op.GT, 1),), limit=10)
>>> policy = Policy(masks={"email": MaskMethod.HASH})
>>> sql, params = select_sql(q, ["id", "email"], policy, "data")
>>> sql.startswith('SELECT "id" FROM (SELECT "id", sha256(CAST("email" AS VARCHAR)) AS "email"')
True
>>> sql.endswith('FROM data) WHERE "id" > $q0 LIMIT 11'), params
(True, {'q0': 1})
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlink.estate.kinds.data import MaskMethod
from interlink.products.filters import Filter, FilterError, Op, check_columns, quote, where

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Filter", "Op", "Policy", "ProductQuery", "QueryResult", "select_sql"]

#: The most rows one page holds.
MAX_LIMIT = 100_000


@dataclass(frozen=True)
class ProductQuery:
    """``columns`` (none: all the contract's, in its order); ``filters`` AND-ed; ``order_by``
    column names, ``-name`` for descending; ``limit`` rows per page (none: all, up to
    :data:`MAX_LIMIT`); ``after``, the ``next_cursor`` of the page before."""

    columns: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    after: str | None = None

    def named(self, returned: Iterable[str]) -> set[str]:
        """The columns an answer reads: those it ``returned`` and those the filters and the
        order name (a filter tells the caller about a column's values even when the column is
        not returned)."""
        found = set(returned)
        found.update(f.column for f in self.filters)
        found.update(c.removeprefix("-") for c in self.order_by)
        return found


@dataclass(frozen=True)
class Policy:
    """What one caller may see: ``masks`` (column → method) replace values in the rows the
    caller gets; ``row_filter`` keeps only the rows it matches (judged on the real values).
    The serving layer resolves a consumer's policy; a local query gets the product's own
    masking (:meth:`of_product`)."""

    masks: Mapping[str, MaskMethod] = field(default_factory=dict)
    row_filter: tuple[Filter, ...] = ()

    def hidden(self, column: str) -> bool:
        return column in self.masks


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    next_cursor: str | None  # None: this was the last page


def mask_sql(column: str, method: MaskMethod) -> str:
    """The SQL expression that masks ``column``: ``hash`` (hex SHA-256 of its text),
    ``redact`` (``***``), ``partial`` (all but the last four characters starred)."""
    name = quote(column)
    text = f"CAST({name} AS VARCHAR)"
    if method is MaskMethod.HASH:
        return f"sha256({text})"
    if method is MaskMethod.REDACT:
        return f"CASE WHEN {name} IS NULL THEN NULL ELSE '***' END"
    return (
        f"CASE WHEN length({text}) <= 4 THEN repeat('*', length({text})) "
        f"ELSE repeat('*', length({text}) - 4) || right({text}, 4) END"
    )


def select_sql(
    query: ProductQuery, columns: Sequence[str], policy: Policy, source: str
) -> tuple[str, dict[str, Any]]:
    """The DuckDB statement answering ``query`` over ``source`` (a registered table or a
    table function call) whose contract ``columns`` are given, and its parameters. One row more
    than the limit is asked for: its presence says there is a next page."""
    chosen = list(query.columns) or list(columns)
    check_columns([Filter(c, Op.EQ) for c in chosen], columns)
    check_columns(query.filters, columns)
    check_columns(policy.row_filter, columns)
    ordered = [c.removeprefix("-") for c in query.order_by]
    check_columns([Filter(c, Op.EQ) for c in ordered], columns)
    limit = _limit(query.limit)

    inner_columns = ", ".join(
        f"{mask_sql(c, policy.masks[c])} AS {quote(c)}" if policy.hidden(c) else quote(c)
        for c in columns
    )
    inner = f"SELECT {inner_columns} FROM {source}"  # noqa: S608 - quoted, parameters
    row_filter, params = where(policy.row_filter, '"', "r", "$")
    if row_filter:
        inner += f" WHERE {row_filter}"
    sql = f"SELECT {', '.join(quote(c) for c in chosen)} FROM ({inner})"  # noqa: S608
    condition, caller = where(query.filters, '"', "q", "$")
    params.update(caller)
    if condition:
        sql += f" WHERE {condition}"
    if query.order_by:
        sql += " ORDER BY " + ", ".join(
            f"{quote(c.removeprefix('-'))} {'DESC' if c.startswith('-') else 'ASC'}"
            for c in query.order_by
        )
    sql += f" LIMIT {limit + 1}"
    offset = decode_cursor(query.after)
    if offset:
        sql += f" OFFSET {offset}"
    return sql, params


def _limit(limit: int | None) -> int:
    if limit is None:
        return MAX_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise FilterError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def page(table: pa.Table, query: ProductQuery) -> QueryResult:
    """The page ``select_sql`` read (one row too many when there is a next page) and the
    cursor of the next."""
    limit = _limit(query.limit)
    if table.num_rows <= limit:
        return QueryResult(table, None)
    return QueryResult(table.slice(0, limit), encode_cursor(decode_cursor(query.after) + limit))


def encode_cursor(offset: int) -> str:
    raw = json.dumps({"o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for; FilterError for one this module did not write."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        offset = json.loads(raw)["o"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise FilterError(f"not a cursor from a previous page: {cursor!r}") from None
    if not isinstance(offset, int) or offset < 0:
        raise FilterError(f"not a cursor from a previous page: {cursor!r}")
    return offset
