"""Rows as file content and back: what each format writes, and content that is not what its
format says, said with where."""

from __future__ import annotations

from typing import Any

import pytest

from interlink.connectors.formats import FormatError, decode, encode


def test_csv_header_is_every_key_in_first_seen_order() -> None:
    rows: list[dict[str, Any]] = [{"b": 1, "a": None}, {"c": {"x": [1]}, "a": False}]
    assert encode("csv", rows) == b'b,a,c\n1,,\n,false,"{""x"":[1]}"\n'
    assert decode("csv", encode("csv", rows)) == [
        {"b": "1", "a": "", "c": ""},
        {"b": "", "a": "false", "c": '{"x":[1]}'},
    ]
    assert encode("csv", []) == b"\n"


def test_jsonl_and_json_round_trip() -> None:
    rows: list[dict[str, Any]] = [{"id": 1, "name": "Zoë"}, {"id": 2}]
    assert decode("jsonl", encode("jsonl", rows)) == rows
    assert decode("json", encode("json", rows)) == rows
    assert decode("csv", "\ufeffid\n1\n".encode()) == [{"id": "1"}]  # a BOM is no header


@pytest.mark.parametrize(
    ("format", "data", "said"),
    [
        ("csv", b"id,name\n1,a,extra\n", "line 2 has 3 fields, the header 2"),
        ("csv", b'id\n"open\n', "not CSV: line 2: unexpected end of data"),
        ("json", b'{"a": }', "not JSON: Expecting value at line 1 column 7"),
        (
            "jsonl",
            b'{"a": 1}\n\n{nope}\n',
            "line 3 is not JSON: Expecting property name enclosed in double quotes",
        ),
        ("csv", b"id\n\xff\n", "not UTF-8 text (byte 3)"),
    ],
)
def test_content_not_in_its_format_says_where(format: str, data: bytes, said: str) -> None:
    with pytest.raises(FormatError) as caught:
        decode(format, data)  # type: ignore[arg-type]
    assert str(caught.value) == said


def test_rows_that_make_no_parquet_table() -> None:
    with pytest.raises(FormatError, match="the rows do not make a Parquet table"):
        encode("parquet", [{"a": 1}, {"a": "x"}])
