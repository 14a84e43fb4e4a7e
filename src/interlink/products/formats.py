"""A page of a product's rows in the media type the caller asked for (``Accept``): JSON (the
default), CSV, Parquet or Arrow IPC stream.

>>> choose(b"text/csv;q=0.9, application/vnd.apache.arrow.stream")
'application/vnd.apache.arrow.stream'
>>> choose(b"*/*"), choose(None), choose(b"image/png")
('application/json', 'application/json', None)
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa

JSON: Final = "application/json"
CSV: Final = "text/csv"
PARQUET: Final = "application/vnd.apache.parquet"
ARROW: Final = "application/vnd.apache.arrow.stream"
#: Every media type a product is served as, and the names they also go by.
MEDIA: Final = {
    JSON: JSON,
    CSV: CSV,
    PARQUET: PARQUET,
    "application/x-parquet": PARQUET,
    ARROW: ARROW,
    "*/*": JSON,
    "application/*": JSON,
    "text/*": CSV,
}


def choose(accept: bytes | None) -> str | None:
    """The served media type ``accept`` prefers (by ``q``, then order); None when it accepts
    none of them."""
    if not accept or not accept.strip():
        return JSON
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept.decode("latin-1").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        served = MEDIA.get(media.lower())
        if served is not None and q > 0:
            ranked.append((-q, i, served))
    return min(ranked)[2] if ranked else None


def encode(table: pa.Table, media: str, extra: dict[str, Any] | None = None) -> bytes:
    """``table`` as ``media``; JSON is ``{"data": [rows…], **extra}``."""
    if media == JSON:
        body = {"data": table.to_pylist(), **(extra or {})}
        return json.dumps(body, default=_json_value, separators=(",", ":")).encode()
    sink = io.BytesIO()
    if media == CSV:
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, sink)
    elif media == PARQUET:
        import pyarrow.parquet as pq

        pq.write_table(table, sink)
    else:
        import pyarrow as pa

        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return sink.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON")
