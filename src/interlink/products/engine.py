"""DuckDB, the products' query engine: one in-memory connection per query or refresh, that
never installs or loads an extension (those download at run time). Parquet, JSON and CSV are
built in; databases are read by the connectors' own drivers and handed over as Arrow."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


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


def literal(text: str) -> str:
    """``text`` as a SQL string literal (a file path DuckDB's table functions read)."""
    return "'" + text.replace("'", "''") + "'"
