"""SQL text the SQL connectors share: named parameters bound by the driver, identifiers checked
and quoted, the statements of a write per dialect, and values converted to and from JSON.

A statement names its parameters ``:name``; :func:`bind` turns them into the driver's
placeholders and a list of values in their order. Text inside quotes ('…', "…", `…`) and comments
is left alone, and so is PostgreSQL's ``::`` cast. No value is ever put into the SQL text: a
table or column name is accepted only as a plain identifier (letters, digits, ``_``, optionally
``schema.table``) and quoted for the dialect.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import itertools
import json
import operator
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from interlink.connectors.base import StatementError, WriteMode

Placeholder = Literal["%s", "?"]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def bind(
    sql: str, params: Mapping[str, Any], placeholder: Placeholder, system: str
) -> tuple[str, list[Any]]:
    """``sql`` with each ``:name`` replaced by ``placeholder``, and the values in order.

    A ``:name`` that ``params`` lacks is a StatementError naming it. With ``%s``
    placeholders, a literal ``%`` is doubled, as the driver's format wants it."""
    out: list[str] = []
    values: list[Any] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            end = _closing(sql, i, ch)
            out.append(_escape(sql[i:end], placeholder))
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(_escape(sql[i:end], placeholder))
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(_escape(sql[i:end], placeholder))
            i = end
        elif sql.startswith("::", i):
            out.append("::")
            i += 2
        elif ch == ":" and (match := _NAME.match(sql, i + 1)):
            name = match.group(0)
            if name not in params:
                raise StatementError(
                    f"the statement's parameter :{name} has no value in params "
                    f"(given: {', '.join(sorted(params)) or 'none'})",
                    system=system,
                    object=summary(sql),
                )
            out.append(placeholder)
            values.append(param_value(params[name]))
            i = match.end()
        elif ch == "?" and placeholder == "?":
            raise StatementError("use :name parameters, not ?", system=system, object=summary(sql))
        else:
            out.append("%%" if ch == "%" and placeholder == "%s" else ch)
            i += 1
    return "".join(out), values


def _closing(sql: str, start: int, quote: str) -> int:
    """The index after the quote that closes the one at ``start`` (doubled quotes escape)."""
    i = start + 1
    while i < len(sql):
        if sql[i] == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        if sql[i] == "\\" and quote != '"':
            i += 2  # MySQL's backslash escapes; harmless elsewhere
            continue
        i += 1
    return len(sql)


def _escape(text: str, placeholder: Placeholder) -> str:
    return text.replace("%", "%%") if placeholder == "%s" else text


def summary(sql: str) -> str:
    """The first words of a statement, to name it in an error."""
    words = " ".join(sql.split())
    return words if len(words) <= 60 else words[:57] + "..."


#: The types a driver takes and gives as they are: the common case, checked first.
PLAIN: Final = frozenset({type(None), bool, int, float, str})
_DECIMALS: Final = frozenset({type(None), decimal.Decimal})


def param_value(value: Any) -> Any:
    """A JSON value as a driver parameter: objects and arrays as JSON text."""
    if type(value) in PLAIN:
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def json_rows(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """The rows a driver returned as objects of column: JSON value. A page is converted column
    by column: only a column holding a value that is not JSON already (a decimal, a timestamp)
    goes through :func:`json_value`, value by value."""
    if not rows:
        return []
    if len(set(names)) != len(names):  # a name given twice: the last column's value wins
        return [{n: json_value(v) for n, v in zip(names, row, strict=True)} for row in rows]
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    plain = PLAIN
    for i, column in enumerate(columns):
        kinds = set(map(type, column))
        if kinds <= plain:
            continue
        if kinds <= _DECIMALS:  # a NUMERIC column: json_value's conversion, inline
            columns[i] = [
                v if v is None else int(v) if v == v.to_integral_value() else float(v)
                for v in column
            ]
        else:
            columns[i] = [json_value(v) for v in column]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def json_value(value: Any) -> Any:
    """A value a driver returned, as JSON: numbers, text, timestamps in ISO 8601, bytes in
    base64, exact decimals as numbers (integers when whole)."""
    if type(value) in PLAIN:
        return value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_value(v) for v in value]
    return str(value)


@dataclass(frozen=True)
class Dialect:
    """How one database spells identifiers and upserts."""

    name: str
    quote: str  # the identifier quote
    placeholder: Placeholder
    upsert: Literal["on-conflict", "on-duplicate-key"]

    def identifier(self, name: str, system: str, what: str = "table") -> str:
        parts = name.split(".")
        if len(parts) > 2 or not all(_IDENTIFIER.match(p) for p in parts):
            raise StatementError(
                f"{what} name {name!r} is not a plain identifier (letters, digits, _; "
                "optionally schema.name)",
                system=system,
                object=name,
            )
        q = self.quote
        return ".".join(f"{q}{p}{q}" for p in parts)


@dataclass(frozen=True)
class WritePlan:
    """A write as one statement run for every row: its text, and each row's values."""

    statement: str
    values: list[Sequence[Any]]


def plan_write(
    dialect: Dialect,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    mode: WriteMode,
    key: Sequence[str],
    system: str,
) -> WritePlan:
    """The statement and values of a write; StatementError when the rows or key do not fit."""
    columns = _columns(rows, table, system)
    if mode in ("upsert", "update"):
        if not key:
            raise StatementError(f"a {mode} needs key columns", system=system, object=table)
        missing = [k for k in key if k not in columns]
        if missing:
            raise StatementError(
                f"the key column(s) {', '.join(missing)} are not in the rows "
                f"(columns: {', '.join(columns)})",
                system=system,
                object=table,
            )
    target = dialect.identifier(table, system)
    quoted = {c: dialect.identifier(c, system, "column") for c in columns}
    p = dialect.placeholder
    rest = [c for c in columns if c not in key]
    if mode == "update":
        if not rest:
            raise StatementError(
                "an update needs a column besides the key", system=system, object=table
            )
        sets = ", ".join(f"{quoted[c]} = {p}" for c in rest)
        where = " AND ".join(f"{quoted[k]} = {p}" for k in key)
        order = [*rest, *key]
        text = f"UPDATE {target} SET {sets} WHERE {where}"  # noqa: S608 - identifiers checked
    else:
        names = ", ".join(quoted[c] for c in columns)
        marks = ", ".join(p for _ in columns)
        text = f"INSERT INTO {target} ({names}) VALUES ({marks})"  # noqa: S608 - as above
        order = list(columns)
        if mode == "upsert":
            text += _upsert(dialect, [quoted[k] for k in key], [quoted[c] for c in rest])
    return WritePlan(text, _values(rows, order))


def _values(rows: Sequence[Mapping[str, Any]], order: list[str]) -> list[Sequence[Any]]:
    """Each row's values in ``order``, objects and arrays as JSON text."""
    get = operator.itemgetter(*order)
    values: list[Sequence[Any]] = (
        [(v,) for v in map(get, rows)] if len(order) == 1 else list(map(get, rows))
    )
    if not set(map(type, itertools.chain.from_iterable(values))) <= PLAIN:
        return [[param_value(v) for v in row] for row in values]
    return values


def _upsert(dialect: Dialect, key: list[str], rest: list[str]) -> str:
    if dialect.upsert == "on-duplicate-key":
        # MariaDB finds the conflicting row by any unique key; the key names the columns
        # kept as they are.
        kept = rest or key[:1]
        return " ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in kept)
    if not rest:
        return f" ON CONFLICT ({', '.join(key)}) DO NOTHING"
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
    return f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"


def _columns(rows: Sequence[Mapping[str, Any]], table: str, system: str) -> list[str]:
    """The columns every row gives; rows that differ are an error (a missing column would
    otherwise be written NULL)."""
    if not rows:
        return []
    first = rows[0]
    if not isinstance(first, Mapping) or not first:
        raise StatementError("each row is an object of column: value", system=system, object=table)
    columns = list(first)
    wanted = set(columns)
    for number, row in enumerate(rows):
        if type(row) is not dict and not isinstance(row, Mapping):  # the usual dict first
            raise StatementError(
                f"row {number} is not an object of column: value", system=system, object=table
            )
        if row.keys() != wanted:
            extra = sorted(set(row) - wanted)
            lacking = sorted(wanted - set(row))
            raise StatementError(
                f"row {number} has other columns than row 0"
                + (f" (also {', '.join(extra)})" if extra else "")
                + (f" (lacks {', '.join(lacking)})" if lacking else ""),
                system=system,
                object=table,
            )
    return columns


def batches(values: list[Sequence[Any]], size: int) -> list[list[Sequence[Any]]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
