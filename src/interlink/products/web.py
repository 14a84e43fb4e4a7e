"""An ``http`` data product source: one GET of a JSON array of records, as Arrow.

The source's ``location`` is a path under its System's ``baseUrl`` (joined under the rules of
webhook deliveries: it cannot leave the base), sent with the System's credentials. The answer
is a JSON array of objects, or an object holding one at the dotted path ``records``
(``data.items``). Each contract column is read from the record's field of the same name (a
field the record lacks is null); a column no record holds at all is a ``columns`` violation,
as for the other sources. Nothing is pushed down: the caller applies its filters to the table.

With ``pagination`` the pages are followed, each one GET with the position in its query
string: ``cursor`` sends the answer's next-page token back (until the answer has none),
``page`` counts pages (until one is empty), ``offset`` counts records (until a page holds
fewer than ``size``). At most ``maxPages`` pages and :data:`LIMIT` bytes in all are read; a
token that names the page just read is refused rather than followed forever.

A source that cannot be reached, answers other than 2xx, answers more than :data:`LIMIT`, or
answers something that is not such JSON is :class:`SourceUnreadable` (502 when served), one
line naming the System and the GET.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from interlink.errors import UpstreamError
from interlink.estate.kinds.data import Column, DataSource, Pagination, PaginationStyle
from interlink.events.delivery.webhook import webhook_url
from interlink.http.client import HttpClient
from interlink.http.credential import Credential
from interlink.http.credential import request as credential_request
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
    """The records at the source's location (every page of them, when it paginates) as a
    table of ``columns``."""
    where = f"System/{source.system} (GET {source.location})"
    pages = source.pagination
    records: list[Any] = []
    # A cursor's first page is asked with no token; pages and offsets count from the first.
    position: int | str | None = None
    if pages is not None and pages.style is not PaginationStyle.CURSOR:
        position = pages.first()
    size = 0
    for _ in range(pages.max_pages if pages else 1):
        location = _page_location(source.path, pages, position)
        body = await _get(client, base_url, credential, location, where, LIMIT - size)
        size += len(body)
        data = await asyncio.to_thread(_json, body, where)
        page = _records(data, source.records, where)
        records += page
        if pages is None:
            break
        position = _next_position(pages, position, data, page, where)
        if position is None:
            break
    else:
        if pages is not None:
            raise SourceUnreadable(f"{where}: more than {pages.max_pages} pages (maxPages)")
    return await asyncio.to_thread(_table, records, columns, where)


def _page_location(path: str, pages: Pagination | None, position: int | str | None) -> str:
    """``path`` with the page's position (and size) added to its query string."""
    if pages is None or position is None:
        return path
    added = [(pages.param, str(position))]
    if pages.size is not None and pages.size_param is not None:
        added.append((pages.size_param, str(pages.size)))
    base, _, query = path.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != pages.param]
    return f"{base}?{urlencode([*kept, *added])}"


def _next_position(
    pages: Pagination, position: int | str | None, data: Any, page: list[Any], where: str
) -> int | str | None:
    """Where the next page starts; None when this page was the last."""
    if pages.style is PaginationStyle.CURSOR:
        assert pages.next is not None  # the model's rule for cursor pagination
        token = _at(data, pages.next)
        if token is None or token == "":
            return None
        if not isinstance(token, str | int) or isinstance(token, bool):
            raise SourceUnreadable(f"{where}: its {pages.next!r} is not a page token")
        if token == position:
            raise SourceUnreadable(f"{where}: its {pages.next!r} names the same page again")
        return token
    if not page:
        return None
    assert isinstance(position, int)
    if pages.style is PaginationStyle.PAGE:
        return position + 1
    if pages.size is not None and len(page) < pages.size:
        return None
    return position + len(page)


async def _get(
    client: HttpClient,
    base_url: str,
    credential: Credential | None,
    location: str,
    where: str,
    limit: int,
) -> bytes:
    try:
        url = webhook_url(base_url, location)
    except ValueError as exc:
        raise SourceUnreadable(f"{where}: cannot be read: {exc}") from None
    headers = [("accept", "application/json")]
    try:
        async with await credential_request(client, credential, "GET", url, headers) as response:
            status = response.status
            parts: list[bytes] = []
            length = 0
            async for chunk in response.body:
                length += len(chunk)
                if length > limit:
                    raise SourceUnreadable(f"{where}: answered more than {LIMIT // 2**20} MiB")
                parts.append(chunk)
    except UpstreamError as exc:
        raise SourceUnreadable(f"{where}: unreachable: {exc.message}") from None
    if not 200 <= status < 300:
        raise SourceUnreadable(f"{where}: answered {status} (GET {location})")
    return b"".join(parts)


def _json(body: bytes, where: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise SourceUnreadable(f"{where}: the answer is not JSON") from None


def _table(records: list[Any], columns: Sequence[Column], where: str) -> pa.Table:
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


def _at(data: Any, path: str) -> Any:
    """The value at the dotted ``path`` of the answer; None when it has none."""
    found = data
    for key in path.split("."):
        if not isinstance(found, dict) or key not in found:
            return None
        found = found[key]
    return found


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
