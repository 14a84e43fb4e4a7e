"""Rows as file content and back: CSV, JSON Lines, JSON and Parquet, for file steps and watch
triggers over any file connector.

Writing (:func:`encode`): CSV's header is the union of the rows' keys in the order first seen,
a missing or null value an empty cell, a nested value its JSON text, a boolean ``true`` or
``false``; JSON Lines is one object a line; JSON one array; Parquet one table (pyarrow), its
columns' types inferred from the values. Reading (:func:`decode`): CSV gives objects of
strings by the header; JSON Lines an object a line; JSON the document (an array of objects, or
any value). Content that is not what its format says is a :class:`FormatError` naming where.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

WriteFormat = Literal["csv", "jsonl", "json", "parquet"]
ReadFormat = Literal["csv", "jsonl", "json"]


class FormatError(ValueError):
    """The rows cannot be written in the format, or the content is not in it."""


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def _csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    header: dict[str, None] = {}
    for row in rows:
        header.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in header])
    return out.getvalue().encode()


def _parquet(rows: Sequence[Mapping[str, Any]]) -> bytes:
    import pyarrow as pa  # heavy: loaded by the first Parquet file only
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pylist([dict(row) for row in rows])
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise FormatError(f"the rows do not make a Parquet table: {exc}") from None
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def encode(format: WriteFormat, rows: Sequence[Mapping[str, Any]]) -> bytes:
    """``rows`` as a whole file in ``format``."""
    if format == "csv":
        return _csv(rows)
    if format == "parquet":
        return _parquet(rows)
    if format == "jsonl":
        lines = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows)
        return "".join(f"{line}\n" for line in lines).encode()
    return json.dumps(list(rows), ensure_ascii=False, separators=(",", ":")).encode()


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start})") from None


def decode(format: ReadFormat, data: bytes) -> Any:
    """The rows (or JSON value) a file in ``format`` holds; FormatError when it holds none."""
    text = _text(data)
    if format == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(
                f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
    if format == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise FormatError(f"line {number} is not JSON: {exc.msg}") from None
        return rows
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return []
        out = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise FormatError(
                    f"line {reader.line_num} has {len(row)} fields, the header {len(header)}"
                )
            out.append(dict(zip(header, row, strict=True)))
    except csv.Error as exc:
        raise FormatError(f"not CSV: line {reader.line_num}: {exc}") from None
    return out
