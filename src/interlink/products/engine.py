"""DuckDB, the products' query engine: one in-memory database per process that never
installs or loads an extension (those download at run time). Parquet, JSON and CSV are built
in; databases are read by the connectors' own drivers and handed over as Arrow.

Each query or refresh works in its own :func:`session`, a cursor of the shared database (a
connection costs tens of milliseconds; a cursor nothing), so the Arrow tables it registers are
its own and go with it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

_database: duckdb.DuckDBPyConnection | None = None
_lock = threading.Lock()


def connect(threads: int = 2) -> duckdb.DuckDBPyConnection:
    import duckdb

    return duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "threads": threads,
        },
    )


@contextmanager
def session() -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection of its own to the process's DuckDB, closed after."""
    global _database
    with _lock:
        if _database is None:
            _database = connect()
        cursor = _database.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def literal(text: str) -> str:
    """``text`` as a SQL string literal (a file path DuckDB's table functions read)."""
    return "'" + text.replace("'", "''") + "'"
