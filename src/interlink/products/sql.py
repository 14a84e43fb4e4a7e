"""Read-only SQL over data products (DuckDB dialect): what a consumer may ask beyond filters.

The text is parsed by DuckDB itself (``json_serialize_sql``, which serialises SELECT
statements only) and accepted when it is one SELECT whose every table is a product the
caller may read (or one of its own CTEs), with no table function (``read_csv``,
``read_parquet``, ``query``…), no file named as a table, no schema- or catalog-qualified name,
and no function that reads the environment. Each product it names is read under the caller's
policy (masks and row filter applied inside that read) and handed to a fresh DuckDB
connection that holds nothing else and has external access switched off, so even a statement
that slipped past the check could reach no file, network or other data. The statement runs
with a time limit (interrupted past it) and a row cap (a larger result is refused, never
cut short).

>>> sorted(tables_of("SELECT * FROM orders o JOIN \\"customer-addresses\\" USING (id)"))
['customer-addresses', 'orders']
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from interlink.errors import InterlinkError
from interlink.estate.sql_tables import SERIALIZE, tables_in
from interlink.products.engine import connect, session

if TYPE_CHECKING:
    import pyarrow as pa

#: Rows one statement may answer with, and the seconds it may run, by default.
MAX_ROWS: Final = 10_000
TIMEOUT: Final = 10.0


class SqlRefused(InterlinkError):
    """SQL that is not one SELECT over the caller's products, or that does not run."""

    status = 400
    title = "SQL refused"


class SqlTimeout(InterlinkError):
    status = 408
    title = "SQL took too long"


def tables_of(text: str) -> set[str]:
    """The tables ``text`` reads (lower-case, its CTEs left out); SqlRefused when it is not
    one plain SELECT."""
    with session() as db:
        found = db.execute(SERIALIZE, [text]).fetchone()
    try:
        return tables_in(found[0] if found else None)
    except ValueError as exc:
        said = str(exc).replace("it calls", "the SQL calls").replace("it names", "the SQL names")
        if said.startswith("the SQL"):
            raise SqlRefused(said) from None
        raise SqlRefused(f"the SQL is refused: {said}") from None


async def run_sql(
    text: str,
    readable: Mapping[str, Callable[[], Awaitable[pa.Table]]],
    *,
    max_rows: int = MAX_ROWS,
    timeout: float = TIMEOUT,
) -> pa.Table:
    """The answer to ``text`` over the products in ``readable`` (name → a read of its rows as
    the caller may see them). SqlRefused for anything else it names."""
    names = {name.lower(): name for name in readable}
    wanted = await asyncio.to_thread(tables_of, text)
    outside = sorted(wanted - set(names))
    if outside:
        raise SqlRefused(
            f"the SQL reads {', '.join(outside)}: only products you may read can be named "
            f"({', '.join(sorted(readable)) or 'none'})"
        )
    tables = {names[t]: await readable[names[t]]() for t in sorted(wanted)}
    db = connect(threads=1)
    db.execute("SET enable_external_access = false")
    db.execute("SET lock_configuration = true")
    work = asyncio.create_task(asyncio.to_thread(_execute, db, text, tables, max_rows))
    try:
        done, _ = await asyncio.wait({work}, timeout=timeout)
        if not done:
            db.interrupt()
            await asyncio.wait({work})
            work.exception()  # retrieved: the interrupted statement's own error says no more
            raise SqlTimeout(f"the SQL ran longer than {timeout:g} s and was stopped")
        return work.result()
    finally:
        db.close()


def _execute(db: Any, text: str, tables: dict[str, pa.Table], max_rows: int) -> pa.Table:
    import duckdb

    for name, table in tables.items():
        db.register(name, table)
    try:
        result = db.sql(text.strip().rstrip(";")).limit(max_rows + 1).to_arrow_table()
    except duckdb.InterruptException:
        raise SqlTimeout("the SQL was stopped") from None
    except duckdb.Error as exc:
        said = str(exc).strip().splitlines()[0]
        raise SqlRefused(f"the SQL cannot run: {said}") from None
    if result.num_rows > max_rows:
        raise SqlRefused(f"the SQL answers more than {max_rows} rows: narrow it or add a LIMIT")
    return result
