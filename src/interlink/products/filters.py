"""The typed filters a product query carries, and their safe translation into SQL.

A :class:`Filter` is ``column op value``; a query's filters are AND-ed. They are pushed down
into a SQL source's statement (``:name`` parameters, which the connector binds with its
driver) and applied again in DuckDB (``$name`` parameters) over what was read: a value never
enters SQL text, and a column is always a contract column, quoted.

>>> parse_filter("status=in:open,held")
Filter(column='status', op=<Op.IN: 'in'>, value=['open', 'held'])
>>> where([Filter("id", Op.GT, 5)], '"', "db_")
('"id" > :db_0', {'db_0': 5})
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from interlink.errors import ConfigError


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    NOT_IN = "notin"  # none of the values (a null is not kept either)
    LIKE = "like"  # SQL LIKE: % and _ are wildcards
    PREFIX = "prefix"  # starts with the value, taken literally
    IS_NULL = "isnull"  # value true: IS NULL; false: IS NOT NULL


_SYMBOL = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FilterError(ConfigError):
    """A filter that names no contract column, an unknown operator, or a value of the wrong
    shape."""

    status = 400
    title = "Invalid filter"


@dataclass(frozen=True)
class Filter:
    column: str
    op: Op
    value: Any = None

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.column):
            raise FilterError(f"not a column name: {self.column!r}")
        listed = self.op in (Op.IN, Op.NOT_IN)
        if listed and not isinstance(self.value, list | tuple):
            raise FilterError(f"{self.column}: '{self.op}' takes a list of values")
        if listed and not self.value:
            raise FilterError(f"{self.column}: '{self.op}' takes at least one value")
        if self.op in (Op.LIKE, Op.PREFIX) and not isinstance(self.value, str):
            raise FilterError(f"{self.column}: '{self.op}' takes a string")
        if self.op is Op.IS_NULL and not isinstance(self.value, bool):
            raise FilterError(f"{self.column}: 'isnull' takes true or false")


def parse_filter(text: str) -> Filter:
    """``column=op:value`` (``op`` one of :class:`Op`; ``in`` splits its value on commas;
    ``isnull`` takes true or false), or ``column=value`` for ``eq``. Values stay strings:
    :func:`coerce` gives them the column's type."""
    column, sep, rest = text.partition("=")
    if not sep or not column:
        raise FilterError(f"a filter is column=op:value, not {text!r}")
    op_text, colon, value = rest.partition(":")
    if not colon or op_text not in Op.__members__.values():
        op_text, value = "eq", rest
    op = Op(op_text)
    if op in (Op.IN, Op.NOT_IN):
        return Filter(column, op, value.split(","))
    if op is Op.IS_NULL:
        if value not in ("true", "false"):
            raise FilterError(f"{column}: isnull takes true or false, not {value!r}")
        return Filter(column, op, value == "true")
    return Filter(column, op, value)


def check_columns(filters: Iterable[Filter], columns: Sequence[str]) -> None:
    """Every filter names one of ``columns``: FilterError naming the first that does not."""
    known = set(columns)
    for f in filters:
        if f.column not in known:
            raise FilterError(
                f"no column {f.column!r} in the contract (columns: {', '.join(columns)})"
            )


def quote(name: str, mark: str = '"') -> str:
    """An identifier quoted with ``mark`` (the mark inside doubled)."""
    return mark + name.replace(mark, mark * 2) + mark


def like_prefix(value: str) -> str:
    """A LIKE pattern matching strings that start with ``value`` taken literally."""
    escaped = value.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return escaped + "%"


def where(
    filters: Sequence[Filter], mark: str, prefix: str, placeholder: str = ":"
) -> tuple[str, dict[str, Any]]:
    """The filters as one SQL condition (AND), identifiers quoted with ``mark`` and values as
    parameters named ``<prefix><n>`` after ``placeholder`` (``:`` for a connector, ``$`` for
    DuckDB); ``""`` with no filter."""
    parts: list[str] = []
    params: dict[str, Any] = {}

    def param(value: Any) -> str:
        name = f"{prefix}{len(params)}"
        params[name] = value
        return placeholder + name

    for f in filters:
        column = quote(f.column, mark)
        if f.op in _SYMBOL:
            parts.append(f"{column} {_SYMBOL[f.op]} {param(f.value)}")
        elif f.op in (Op.IN, Op.NOT_IN):
            negated = "NOT " if f.op is Op.NOT_IN else ""
            parts.append(f"{column} {negated}IN ({', '.join(param(v) for v in f.value)})")
        elif f.op is Op.LIKE:
            parts.append(f"{column} LIKE {param(f.value)}")
        elif f.op is Op.PREFIX:
            parts.append(f"{column} LIKE {param(like_prefix(f.value))} ESCAPE '!'")
        else:
            parts.append(f"{column} IS {'' if f.value else 'NOT '}NULL")
    return " AND ".join(parts), params
