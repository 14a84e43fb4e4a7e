"""The tables a DuckDB SELECT reads, from DuckDB's own parse tree (``json_serialize_sql``):
what the SQL endpoint admits and what a ``products`` source composes, judged alike.

The statement is accepted when it is one SELECT with no table function (``read_csv``,
``read_parquet``, ``query``…), no schema- or catalog-qualified table and no function that reads
the environment; its tables are then the names it reads, lower-case, its own CTEs left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

#: Scalar functions that read the process's environment or settings: refused.
DENIED_FUNCTIONS: Final = frozenset({"getenv", "current_setting", "read_text", "read_blob", "glob"})
#: What DuckDB is asked to parse a statement with (the text as its one parameter).
SERIALIZE: Final = "SELECT json_serialize_sql(?)"


def tables_in(serialized: str | None) -> set[str]:
    """The tables of the statement ``serialized`` (the answer of :data:`SERIALIZE`); ValueError
    saying why when it is not one plain SELECT over tables."""
    tree: dict[str, Any] = json.loads(serialized) if serialized else {"error": True}
    if tree.get("error"):
        said = tree.get("error_message") or "it does not parse"
        if "Only SELECT" in said:
            said = "only a SELECT statement is run"
        raise ValueError(said)
    if len(tree["statements"]) != 1:
        raise ValueError("send one statement")
    tables: set[str] = set()
    ctes: set[str] = set()
    for node in _nodes(tree["statements"][0]):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            name = node.get("function", {}).get("function_name", "?")
            raise ValueError(f"it calls the table function {name}: only products can be read")
        if kind == "BASE_TABLE":
            if node.get("schema_name") or node.get("catalog_name"):
                raise ValueError(f"it names a qualified table: {node['table_name']!r}")
            tables.add(str(node["table_name"]).lower())
        if node.get("class") == "FUNCTION" and node.get("function_name") in DENIED_FUNCTIONS:
            raise ValueError(f"it calls {node['function_name']}, which is not allowed")
        for entry in node.get("cte_map", {}).get("map", []) if "cte_map" in node else []:
            ctes.add(str(entry["key"]).lower())
    return tables - ctes


def parse_tables(text: str) -> set[str]:
    """:func:`tables_in` of ``text``, parsed by a DuckDB of its own (for ``check``)."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    with duckdb.connect(":memory:", config=config) as db:
        found = db.execute(SERIALIZE, [text]).fetchone()
    return tables_in(found[0] if found else None)


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every object in ``tree``, walked with a stack (a parse tree may nest deeply)."""
    stack = [tree]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            yield value
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
