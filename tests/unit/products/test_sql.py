"""The SQL endpoint's check and limits, without a gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pyarrow as pa
import pytest

from interlink.products import sql
from interlink.products.engine import connect
from interlink.products.sql import SqlRefused, SqlTimeout, run_sql, tables_of


def _reader(table: pa.Table) -> Callable[[], Awaitable[pa.Table]]:
    async def read() -> pa.Table:
        return table

    return read


def test_only_one_select_over_named_tables_passes() -> None:
    assert tables_of("WITH t AS (SELECT * FROM a) SELECT * FROM t JOIN B USING (x)") == {"a", "b"}
    for text, said in [
        ("UPDATE a SET x = 1", "only a SELECT"),
        ("SELECT * FROM read_parquet('x.parquet')", "read_parquet"),
        ("SELECT * FROM 'x.csv'", None),  # a file as a table: a name no product has
        ("SELECT current_setting('threads')", "current_setting"),
        ("SELECT * FROM other.main.a", "qualified"),
        ("ATTACH 'x.db'", "only a SELECT"),
        ("COPY a TO 'x.csv'", "only a SELECT"),
    ]:
        if said is None:
            assert tables_of(text) == {"x.csv"}
            continue
        with pytest.raises(SqlRefused, match=said):
            tables_of(text)


def test_the_row_cap_refuses_rather_than_cuts() -> None:
    table = pa.table({"x": [1, 2, 3]})
    got = asyncio.run(run_sql("SELECT sum(x) AS s FROM t", {"t": _reader(table)}, max_rows=2))
    assert got.to_pylist() == [{"s": 6}]
    with pytest.raises(SqlRefused, match="more than 2 rows"):
        asyncio.run(run_sql("SELECT * FROM t", {"t": _reader(table)}, max_rows=2))
    with pytest.raises(SqlRefused, match="only products you may read"):
        asyncio.run(run_sql("SELECT * FROM u", {"t": _reader(table)}))


def test_the_connection_reaches_no_file_even_past_the_check() -> None:
    db = connect(threads=1)
    db.execute("SET enable_external_access = false")
    with pytest.raises(SqlRefused, match="cannot run"):
        sql._execute(db, "SELECT * FROM read_csv('/etc/passwd')", {}, 10)


def test_a_statement_past_its_time_is_stopped() -> None:
    table = pa.table({"x": list(range(2000))})
    endless = "SELECT count(*) FROM t a, t b, t c, t d WHERE a.x + b.x + c.x + d.x = -1"
    with pytest.raises(SqlTimeout, match=r"longer than 0\.2 s"):
        asyncio.run(run_sql(endless, {"t": _reader(table)}, timeout=0.2))
