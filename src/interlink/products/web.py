"""An ``http`` data product source: one GET of a JSON array of records, as Arrow.

The source's ``location`` is a path under its System's ``baseUrl`` (joined under the rules of
webhook deliveries: it cannot leave the base), sent with the System's credentials. The answer
is a JSON array of objects, or an object holding one at the dotted path ``records``
(``data.items``). Each contract column is read from the record's field of the same name (a
field the record lacks is null); a column no record holds at all is a ``columns`` violation,
as for the other sources. There is one request and no pagination, and nothing is pushed down:
the caller applies its filters to the table.

A source that cannot be reached, answers other than 2xx, answers more than :data:`LIMIT`, or
answers something that is not such JSON is :class:`SourceUnreadable` (502 when served), one
line naming the System and the GET.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from interlink.errors import UpstreamError
from interlink.estate.kinds.data import Column, DataSource
from interlink.events.delivery.webhook import webhook_url
from interlink.http.client import HttpClient
from interlink.http.credential import Credential
from interlink.products.columns import from_rows
from interlink.products.errors import ContractBroken, SourceUnreadable
from interlink.products.history import Violation

if TYPE_CHECKING:
    import pyarrow as pa

#: The largest answer read: a product is read whole, so this bounds one read's memory.
LIMIT = 64 * 1024 * 1024


async def read_http(
    client: HttpClient,
    base_url: str,
    credential: Credential | None,
    source: DataSource,
    columns: Sequence[Column],
) -> pa.Table:
    """The records at the source's location as a table of ``columns``."""
    where = f"System/{source.system} (GET {source.location})"
    try:
        url = webhook_url(base_url, source.location)
    except ValueError as exc:
        raise SourceUnreadable(f"{where}: cannot be read: {exc}") from None
    headers = [("accept", "application/json")]
    if credential is not None:
        url = credential.url(url)
        pair = credential.header_text()
        if pair is not None:
            headers.append(pair)
    try:
        async with await client.request("GET", url, headers) as response:
            status = response.status
            parts: list[bytes] = []
            length = 0
            async for chunk in response.body:
                length += len(chunk)
                if length > LIMIT:
                    raise SourceUnreadable(f"{where}: answered more than {LIMIT // 2**20} MiB")
                parts.append(chunk)
    except UpstreamError as exc:
        raise SourceUnreadable(f"{where}: unreachable: {exc.message}") from None
    if not 200 <= status < 300:
        raise SourceUnreadable(f"{where}: answered {status}")
    return await asyncio.to_thread(_table, b"".join(parts), source, columns, where)


def _table(body: bytes, source: DataSource, columns: Sequence[Column], where: str) -> pa.Table:
    try:
        data = json.loads(body)
    except ValueError:
        raise SourceUnreadable(f"{where}: the answer is not JSON") from None
    records = _records(data, source.records, where)
    rows: list[tuple[Any, ...]] = []
    held: set[str] = set()
    names = [c.name for c in columns]
    for number, record in enumerate(records):
        if not isinstance(record, dict):
            raise SourceUnreadable(f"{where}: record {number} is not a JSON object")
        held.update(record)
        rows.append(tuple(record.get(name) for name in names))
    missing = [name for name in names if name not in held]
    if rows and missing:
        raise ContractBroken(
            [Violation("columns", name, "no record of the source has it") for name in missing]
        )
    # JSON values are typed one by one (an id may be a number here, a string there).
    return from_rows(names, rows, columns, uniform=False)


def _records(data: Any, path: str | None, where: str) -> list[Any]:
    """The array at the dotted ``path`` of the answer (the answer itself without one)."""
    found = data
    for key in path.split(".") if path else ():
        if not isinstance(found, dict) or key not in found:
            raise SourceUnreadable(f"{where}: the answer has no {path!r} (records)")
        found = found[key]
    if not isinstance(found, list):
        said = f"its {path!r}" if path else "the answer"
        raise SourceUnreadable(f"{where}: {said} is not a JSON array of records")
    return found
