"""A product's rows as Arrow, shaped by its contract: each contract column, in contract order,
of the Arrow type its contract type names.

What a source gives (a driver's Python values, a file DuckDB read) is converted here; a value
that does not fit its column's type is a ``type`` violation, never a silently changed value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from interlink.estate.kinds.data import Column, ColumnType
from interlink.products.errors import ContractBroken
from interlink.products.history import Violation

if TYPE_CHECKING:
    import pyarrow as pa


def arrow_type(column_type: ColumnType) -> pa.DataType:
    import pyarrow as pa

    return {
        ColumnType.STRING: pa.string(),
        ColumnType.INTEGER: pa.int64(),
        ColumnType.NUMBER: pa.float64(),
        ColumnType.BOOLEAN: pa.bool_(),
        ColumnType.DATE: pa.date32(),
        ColumnType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    }[column_type]


#: Python types a whole column may be converted from at once, by contract type. An int into
#: an integer column only: Arrow would truncate a float or a decimal into one silently.
_FAST = {
    ColumnType.STRING: (str,),
    ColumnType.INTEGER: (int,),
    ColumnType.NUMBER: (float, int),
    ColumnType.BOOLEAN: (bool,),
    ColumnType.DATE: (date,),
    ColumnType.TIMESTAMP: (datetime,),
}
_SAMPLE = 64


def from_rows(
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    columns: Sequence[Column],
    *,
    uniform: bool = True,
) -> pa.Table:
    """Rows a driver returned (one tuple per row, in ``names`` order) as a table of
    ``columns``; ContractBroken when a column is missing or a value does not fit its type.

    ``uniform`` says every value of a column has the Python type of its first (a typed
    database; not SQLite): the rows then convert in one pass when those types fit the
    contract's, instead of column by column with each value's type judged."""
    import pyarrow as pa

    if uniform and rows and list(names) == [c.name for c in columns] and _fits(rows, columns):
        struct = pa.struct([(c.name, arrow_type(c.type)) for c in columns])
        try:
            return pa.Table.from_struct_array(pa.array(rows, type=struct))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass  # judged column by column below, to say which

    index = {name: i for i, name in enumerate(names)}
    missing = [c.name for c in columns if c.name not in index]
    if missing:
        raise ContractBroken(
            [Violation("columns", c, "the source returned no such column") for c in missing]
        )
    values = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays: list[pa.Array] = []
    broken: list[Violation] = []
    for column in columns:
        target = arrow_type(column.type)
        data = values[index[column.name]]
        try:  # inferred, then cast safely: a float is never truncated into an integer
            arrays.append(_cast(pa.array(data, from_pandas=False), target))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            broken.append(_type_violation(column, data))
    if broken:
        raise ContractBroken(broken)
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


def _fits(rows: Sequence[Sequence[Any]], columns: Sequence[Column]) -> bool:
    """Whether the first non-null value of each column (in the first rows) is of a type that
    converts to its contract type as it is."""
    for i, column in enumerate(columns):
        kinds = _FAST[column.type]
        sample = next((row[i] for row in rows[:_SAMPLE] if row[i] is not None), None)
        if sample is None:
            continue
        if not isinstance(sample, kinds) or (
            isinstance(sample, bool) and column.type is not ColumnType.BOOLEAN
        ):
            return False
        if column.type is ColumnType.DATE and isinstance(sample, datetime):
            return False
    return True


def conform(table: pa.Table, columns: Sequence[Column]) -> pa.Table:
    """A table read natively (a file) as one of ``columns``: each cast, safely, to its
    contract type; ContractBroken when a column is missing or will not cast."""
    import pyarrow as pa

    missing = [c.name for c in columns if c.name not in table.column_names]
    if missing:
        raise ContractBroken(
            [Violation("columns", c, "the source has no such column") for c in missing]
        )
    arrays: list[pa.ChunkedArray] = []
    broken: list[Violation] = []
    for column in columns:
        found = table.column(column.name)
        target = arrow_type(column.type)
        if found.type == target:
            arrays.append(found)
            continue
        try:
            arrays.append(_cast(found, target))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            broken.append(
                Violation("type", column.name, f"holds {found.type}, not {column.type.value}")
            )
    if broken:
        raise ContractBroken(broken)
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


def _cast(values: Any, target: pa.DataType) -> Any:
    """``values`` cast to ``target``; a timestamp without a zone is read as UTC."""
    import pyarrow as pa

    if pa.types.is_timestamp(target) and not pa.types.is_timestamp(values.type):
        try:
            return values.cast(target)
        except pa.ArrowInvalid:  # no zone offset in the text
            return values.cast(pa.timestamp("us")).cast(target)
    if pa.types.is_timestamp(target) and values.type.tz is None:
        return values.cast(pa.timestamp("us")).cast(target)
    return values.cast(target)


def _type_violation(column: Column, data: Sequence[Any]) -> Violation:
    kinds = sorted({type(v).__name__ for v in data if v is not None})
    return Violation(
        "type", column.name, f"holds {', '.join(kinds) or 'no'} values, not {column.type.value}"
    )
