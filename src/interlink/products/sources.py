"""A data product's source read into Arrow, shaped by its contract.

A ``sql`` source is read by the System's own connector (``Connection.fetch``: psycopg, asyncmy,
sqlite3), never by a DuckDB extension: the statement selects only the contract's columns
(projection pushed down) from the table, or from the product's query as a subquery, with the
pushable filters as its WHERE (values as driver parameters, identifiers quoted). A ``csv``,
``json`` or ``parquet`` source is fetched whole through the System's files connector
(directory, SFTP, S3) into a temporary file that DuckDB reads natively. Either way the rows
come back as the contract's columns and types, or the read fails naming what broke: a source
that is down, a file that does not parse, a column missing or of another type. There is never
a partial result.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from interlink.connectors.base import Connection
from interlink.estate.kinds.data import Column, DataSource, SourceType
from interlink.products.columns import conform, from_rows
from interlink.products.engine import literal, session
from interlink.products.errors import SourceUnreadable
from interlink.products.filters import Filter, quote, where

if TYPE_CHECKING:
    import pyarrow as pa

#: The identifier quote of each SQL connector's dialect (the others quote with ").
QUOTES = {"mariadb": "`"}

_READERS = {
    SourceType.CSV: "read_csv",
    SourceType.JSON: "read_json",
    SourceType.PARQUET: "read_parquet",
}


def source_sql(
    source: DataSource, columns: Sequence[Column], filters: Sequence[Filter], connector: str
) -> tuple[str, dict[str, object]]:
    """The statement a sql source is read with, and its ``:name`` parameters.

    >>> from interlink.products.filters import Op
    >>> src = DataSource(system="db", type="sql", location="shop.orders")
    >>> source_sql(src, [Column(name="id", type="integer")], [Filter("id", Op.GE, 3)], "mariadb")
    ('SELECT `id` FROM `shop`.`orders` WHERE `id` >= :f0', {'f0': 3})
    """
    mark = QUOTES.get(connector, '"')
    if source.query is not None:
        origin = f"({source.query}) AS {quote('source', mark)}"
    else:
        origin = ".".join(quote(part, mark) for part in source.path.split("."))
    # Quoted identifiers, the product's own query, and :parameters:
    sql = f"SELECT {', '.join(quote(c.name, mark) for c in columns)} FROM {origin}"  # noqa: S608
    condition, params = where(filters, mark, "f")
    if condition:
        sql += f" WHERE {condition}"
    return sql, params


async def read_sql(
    connection: Connection,
    source: DataSource,
    columns: Sequence[Column],
    filters: Sequence[Filter],
    connector: str,
) -> pa.Table:
    sql, params = source_sql(source, columns, filters, connector)
    fetched = await connection.fetch(sql, params)
    # SQLite types values, not columns: a column may mix them, so each value is judged.
    uniform = connector != "sqlite"
    return await asyncio.to_thread(from_rows, fetched.names, fetched.rows, columns, uniform=uniform)


async def read_file(
    connection: Connection, source: DataSource, columns: Sequence[Column]
) -> pa.Table:
    """The file at the source's location, read by DuckDB: the contract's columns, conformed."""
    data = await connection.read_file(source.path)
    return await asyncio.to_thread(_read_bytes, data, source, columns, connection.system)


def _read_bytes(
    data: bytes, source: DataSource, columns: Sequence[Column], system: str
) -> pa.Table:
    import duckdb

    reader = _READERS[source.type]
    with tempfile.TemporaryDirectory(prefix="interlink-product-") as folder:
        path = Path(folder, f"source.{source.type.value}")
        path.write_bytes(data)
        with session() as db:
            try:
                relation = db.sql(f"SELECT * FROM {reader}({literal(str(path))})")  # noqa: S608
                table = relation.to_arrow_table()
            except duckdb.Error as exc:
                said = str(exc).strip()
                first = said.splitlines()[0] if said else type(exc).__name__
                raise SourceUnreadable(
                    f"System/{system} ({source.location}): not a readable "
                    f"{source.type.value} file: {first}"
                ) from None
    return conform(table.select([c for c in table.column_names if c in _names(columns)]), columns)


def _names(columns: Sequence[Column]) -> set[str]:
    return {c.name for c in columns}
