"""The contract's rules judged over a product's rows, in one pass of DuckDB over the Arrow
table: nullability, uniqueness, allowed values, ranges, patterns, the row count and freshness.

Types and columns are judged before (``columns.py``: a table that gets here has every contract
column, of its type). What a rule found is a :class:`Violation`; none means the data keeps the
contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from interlink.errors import ConfigError
from interlink.estate.kinds.data import Column, ColumnType, DataContract, Freshness
from interlink.products.engine import session
from interlink.products.filters import quote
from interlink.products.history import Violation

if TYPE_CHECKING:
    import pyarrow as pa

_NUMERIC = (ColumnType.INTEGER, ColumnType.NUMBER)
_DATED = (ColumnType.DATE, ColumnType.TIMESTAMP)


def check(
    table: pa.Table,
    contract: DataContract,
    freshness: Freshness | None = None,
    now: datetime | None = None,
    whole: bool = True,
) -> list[Violation]:
    """Every rule ``table`` breaks, in contract order. With ``whole`` false (a virtual
    query's rows, a part of the data) only the rules each value keeps on its own are judged:
    not uniqueness, the row count or freshness."""
    probes: list[tuple[str, str | None, str, str]] = []  # (rule, column, aggregate, message)
    params: dict[str, Any] = {}

    def param(value: Any) -> str:
        name = f"p{len(params)}"
        params[name] = value
        return "$" + name

    for column in contract.columns:
        probes.extend(p for p in _column_probes(column, param) if whole or p[0] != "unique")
    probes.append(("rowCount", None, "count(*)", ""))
    if whole and freshness is not None and freshness.column:
        probes.append(("freshness", freshness.column, f"max({quote(freshness.column)})", ""))
    import duckdb

    with session() as db:
        db.register("data", table)
        # Quoted identifiers and $parameters only:
        sql = "SELECT " + ", ".join(p[2] for p in probes) + " FROM data"  # noqa: S608
        try:
            found = db.execute(sql, params).fetchone()
        except duckdb.Error as exc:  # a pattern RE2 does not take, a value of another type
            said = str(exc).strip().splitlines()[0]
            raise ConfigError(f"the contract's rules cannot be checked: {said}") from None
    assert found is not None
    violations: list[Violation] = []
    for (rule, name, _, message), value in zip(probes, found, strict=True):
        if rule == "rowCount":
            violations.extend(_row_count(contract, int(value)) if whole else ())
        elif rule == "freshness":
            assert freshness is not None
            violations.extend(_freshness(freshness, value, now or datetime.now(UTC)))
        elif value:
            violations.append(Violation(rule, name, message.format(n=value)))
    return violations


def _column_probes(column: Column, param: Any) -> list[tuple[str, str | None, str, str]]:
    name = quote(column.name)
    rows = "{n} row(s)"
    out: list[tuple[str, str | None, str, str]] = []
    if not column.nullable:
        out.append(
            ("nullable", column.name, f"count(*) FILTER (WHERE {name} IS NULL)", f"{rows} null")
        )
    if column.unique:
        out.append(
            (
                "unique",
                column.name,
                f"count({name}) - count(DISTINCT {name})",
                "{n} value(s) repeated",
            )
        )
    if column.allowed is not None:
        values = ", ".join(param(v) for v in column.allowed)
        out.append(
            (
                "allowed",
                column.name,
                f"count(*) FILTER (WHERE {name} NOT IN ({values}))",
                f"{rows} hold a value not allowed",
            )
        )
    for rule, bound, op in (("minimum", column.minimum, "<"), ("maximum", column.maximum, ">")):
        if bound is None:
            continue
        value = param(_bound(column, bound))
        out.append(
            (
                rule,
                column.name,
                f"count(*) FILTER (WHERE {name} {op} {value})",
                f"{rows} {'below' if op == '<' else 'above'} {bound}",
            )
        )
    if column.pattern is not None:
        pattern = param(column.pattern)
        out.append(
            (
                "pattern",
                column.name,
                f"count(*) FILTER (WHERE NOT regexp_full_match(CAST({name} AS VARCHAR), "
                f"{pattern}))",
                f"{rows} do not match {column.pattern}",
            )
        )
    return out


def _bound(column: Column, bound: float | str) -> Any:
    if column.type in _DATED and isinstance(bound, str):
        parsed = datetime.fromisoformat(bound)
        if column.type is ColumnType.DATE:
            return parsed.date()
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return bound


def _row_count(contract: DataContract, count: int) -> Sequence[Violation]:
    bounds = contract.row_count
    if bounds is None:
        return ()
    if bounds.min is not None and count < bounds.min:
        return (Violation("rowCount", None, f"{count} row(s), fewer than {bounds.min}"),)
    if bounds.max is not None and count > bounds.max:
        return (Violation("rowCount", None, f"{count} row(s), more than {bounds.max}"),)
    return ()


def _freshness(freshness: Freshness, newest: Any, now: datetime) -> Sequence[Violation]:
    if newest is None:
        return (Violation("freshness", freshness.column, "no value to judge the age by"),)
    if not isinstance(newest, datetime):  # a date: its start
        newest = datetime(newest.year, newest.month, newest.day, tzinfo=UTC)
    elif newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    age = (now - newest).total_seconds()
    if age > freshness.max_age:
        return (
            Violation(
                "freshness",
                freshness.column,
                f"the newest value is {age:.0f}s old, more than maxAge {freshness.max_age:g}s",
            ),
        )
    return ()
