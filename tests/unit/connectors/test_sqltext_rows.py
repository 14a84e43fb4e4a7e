"""Rows from a driver as JSON objects, converted column by column: the same values as
converting each one, whatever mix of types a column holds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from interlink.connectors.sqlite import DIALECT
from interlink.connectors.sqltext import json_rows, json_value, plan_write


def _each(names: list[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{n: json_value(v) for n, v in zip(names, row, strict=True)} for row in rows]


def test_columns_convert_as_each_value_would() -> None:
    names = ["id", "amount", "at", "tags", "note"]
    at = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
    rows: list[tuple[Any, ...]] = [
        (1, Decimal("2.50"), at, ["a"], "x"),
        (2, Decimal("3"), None, None, None),
        (3, None, at, {"k": Decimal("1")}, "z"),
    ]
    converted = json_rows(names, rows)
    assert converted == _each(names, rows)
    assert converted[1]["amount"] == 3
    assert type(converted[1]["amount"]) is int
    assert converted[0]["at"] == "2026-03-01T10:00:00+00:00"
    assert json_rows(names, []) == []


def test_a_name_given_twice_keeps_the_last_column() -> None:
    rows: list[tuple[Any, ...]] = [(1, Decimal("2"))]
    assert json_rows(["id", "id"], rows) == [{"id": 2}]


def test_write_values_keep_order_and_turn_objects_into_json_text() -> None:
    rows = [{"id": 1, "doc": {"a": 1}, "n": 2}, {"id": 2, "doc": [1], "n": None}]
    plan = plan_write(DIALECT, "t", rows, "insert", (), "shop")
    assert [list(v) for v in plan.values] == [[1, '{"a":1}', 2], [2, "[1]", None]]
    plain = plan_write(DIALECT, "t", [{"id": 1}, {"id": 2}], "insert", (), "shop")
    assert [list(v) for v in plain.values] == [[1], [2]]
