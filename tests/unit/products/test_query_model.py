"""Filters, the query statement and the masking policy, without a source."""

from __future__ import annotations

import pyarrow as pa
import pytest

from interlink.estate.kinds.data import MaskMethod
from interlink.products.filters import Filter, FilterError, Op, parse_filter, where
from interlink.products.query import (
    Policy,
    ProductQuery,
    decode_cursor,
    encode_cursor,
    page,
    select_sql,
)
from interlink.products.service import _run


def test_filters_parse_from_text() -> None:
    assert parse_filter("id=gt:5") == Filter("id", Op.GT, "5")
    assert parse_filter("status=open") == Filter("status", Op.EQ, "open")
    assert parse_filter("note=http://x") == Filter("note", Op.EQ, "http://x")
    assert parse_filter("s=in:a,b") == Filter("s", Op.IN, ["a", "b"])
    assert parse_filter("s=isnull:true") == Filter("s", Op.IS_NULL, True)
    with pytest.raises(FilterError, match="column=op:value"):
        parse_filter("nothing")
    with pytest.raises(FilterError, match="not a column name"):
        parse_filter("a;drop=1")
    with pytest.raises(FilterError, match="isnull takes true or false"):
        parse_filter("s=isnull:maybe")


def test_values_are_parameters_and_identifiers_are_quoted() -> None:
    sql, params = where(
        [
            Filter("id", Op.IN, [1, 2]),
            Filter("name", Op.PREFIX, "50%_off!"),
            Filter("gone", Op.IS_NULL, False),
        ],
        "`",
        "f",
    )
    assert sql == "`id` IN (:f0, :f1) AND `name` LIKE :f2 ESCAPE '!' AND `gone` IS NOT NULL"
    assert params == {"f0": 1, "f1": 2, "f2": "50!%!_off!!%"}


TABLE = pa.table(
    {
        "id": [1, 2, 3, 4],
        "name": ["50% off", "500 off", "ann", None],
        "email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io"],
        "region": ["eu", "us", "eu", "eu"],
    }
)
COLUMNS = ["id", "name", "email", "region"]


def _query(query: ProductQuery, policy: Policy | None = None) -> list[dict[str, object]]:
    sql, params = select_sql(query, COLUMNS, policy or Policy(), "data")
    rows: list[dict[str, object]] = page(_run(sql, params, TABLE), query).table.to_pylist()
    return rows


def test_prefix_takes_its_value_literally() -> None:
    found = _query(ProductQuery(columns=("id",), filters=(Filter("name", Op.PREFIX, "50%"),)))
    assert found == [{"id": 1}]


def test_the_row_filter_sees_real_values_and_the_caller_only_masked_ones() -> None:
    policy = Policy(masks={"email": MaskMethod.REDACT}, row_filter=(Filter("region", Op.EQ, "eu"),))
    rows = _query(ProductQuery(order_by=("-id",)), policy)
    assert [r["id"] for r in rows] == [4, 3, 1]
    assert {r["email"] for r in rows} == {"***"}
    # A filter on a masked column cannot find a row by its hidden value.
    probe = ProductQuery(filters=(Filter("email", Op.EQ, "a@x.io"),))
    assert _query(probe, policy) == []


def test_partial_and_hash_masks() -> None:
    partial = _query(
        ProductQuery(columns=("email",), limit=1), Policy({"email": MaskMethod.PARTIAL})
    )
    assert partial == [{"email": "**x.io"}]
    hashed = _query(ProductQuery(columns=("email",), limit=1), Policy({"email": MaskMethod.HASH}))
    assert len(str(hashed[0]["email"])) == 64


def test_pages_follow_their_cursor_to_the_end() -> None:
    seen: list[object] = []
    after = None
    while True:
        query = ProductQuery(columns=("id",), order_by=("id",), limit=3, after=after)
        sql, params = select_sql(query, COLUMNS, Policy(), "data")
        result = page(_run(sql, params, TABLE), query)
        seen += [r["id"] for r in result.table.to_pylist()]
        if result.next_cursor is None:
            break
        after = result.next_cursor
    assert seen == [1, 2, 3, 4]
    assert decode_cursor(encode_cursor(3)) == 3
    with pytest.raises(FilterError, match="not a cursor"):
        decode_cursor("bogus!")


def test_a_query_names_only_contract_columns() -> None:
    with pytest.raises(FilterError, match="no column 'secret'"):
        select_sql(ProductQuery(columns=("secret",)), COLUMNS, Policy(), "data")
    with pytest.raises(FilterError, match="no column 'x'"):
        select_sql(ProductQuery(order_by=("-x",)), COLUMNS, Policy(), "data")
    with pytest.raises(FilterError, match="limit must be between"):
        select_sql(ProductQuery(limit=0), COLUMNS, Policy(), "data")


def test_rows_convert_in_one_pass_only_when_their_types_fit() -> None:
    from datetime import UTC, datetime

    from interlink.estate.kinds.data import Column
    from interlink.products.columns import from_rows
    from interlink.products.errors import ContractBroken

    columns = [Column(name="n", type="integer"), Column(name="at", type="timestamp")]
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    table = from_rows(["n", "at"], [(1, moment), (None, None)], columns)
    assert table.to_pylist() == [{"n": 1, "at": moment}, {"n": None, "at": None}]
    # A float is never truncated into an integer column, whatever the path.
    with pytest.raises(ContractBroken, match="n: holds float values, not integer"):
        from_rows(["n", "at"], [(2.5, moment)], columns)
    with pytest.raises(ContractBroken, match="n: holds float, int values, not integer"):
        from_rows(["n", "at"], [(1, moment), (2.5, moment)], columns, uniform=False)


def test_queries_in_threads_at_once_see_their_own_rows() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(n: int) -> list[object]:
        data = pa.table({"id": list(range(n, n + 50))})
        sql, params = select_sql(ProductQuery(order_by=("id",)), ["id"], Policy(), "data")
        first: list[object] = _run(sql, params, data).column("id").to_pylist()[:1]
        return first

    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(one, [0, 1000, 2000, 3000] * 5))
    assert found == [[0], [1000], [2000], [3000]] * 5
