"""Data products over an http source: a real loopback server answering JSON records."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlink.products.errors import ContractBroken, SourceUnreadable
from interlink.products.filters import parse_filter
from interlink.products.query import ProductQuery
from interlink.products.service import Products
from interlink.testing.receivers import Receiver, Reply
from tests.unit.products.helpers import load, make_estate

RECORDS = [
    {"id": 1, "city": "Galway", "score": 2.5, "seen": "2026-01-01T10:00:00Z", "extra": "x"},
    {"id": 2, "city": "Cork", "score": 4, "seen": "2026-01-02T10:00:00+01:00"},
    {"id": 3, "city": None, "seen": "2026-01-03T10:00:00Z"},
]

PRODUCT = """\
apiVersion: interlink/v1
kind: System
metadata: {name: crm, owner: data}
spec:
  domain: sales
  baseUrl: %(url)s/api
  credentials: {scheme: bearer, token: '${env:INTERLINK_TEST_CRM_TOKEN}'}
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: places, owner: data}
spec:
  domain: sales
  source: {system: crm, type: http, location: /places?active=true%(records)s}
  mode: %(mode)s
%(refresh)s
  contract:
    columns:
      - {name: id, type: integer, nullable: false, unique: true}
      - {name: city, type: string}
      - {name: score, type: number}
      - {name: seen, type: timestamp}
"""


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLINK_TEST_CRM_TOKEN", "s3cret")


def _json(body: Any, status: int = 200) -> Reply:
    return Reply(status, {"content-type": "application/json"}, json.dumps(body).encode())


async def _with(
    tmp_path: Path,
    reply: Reply,
    use: Callable[[Products], Any],
    *,
    records: str | None = None,
    mode: str = "virtual",
) -> tuple[Any, Receiver]:
    crm = Receiver()
    crm.script(reply, times=None)
    await crm.start()
    refresh = "  refresh: {schedule: '0 * * * *'}" if mode == "materialised" else ""
    text = PRODUCT % {
        "url": crm.url,
        "records": f", records: {records}" if records else "",
        "mode": mode,
        "refresh": refresh,
    }
    estate = load(make_estate(tmp_path, text))
    products = Products(lambda: estate, tmp_path / "data")
    try:
        return await use(products), crm
    finally:
        await products.aclose()
        await crm.stop()


def test_an_http_source_is_read_with_credentials_typed_and_filtered(
    tmp_path: Path,
) -> None:
    query = ProductQuery(filters=(parse_filter("id=ge:2"),), order_by=("id",))
    result, crm = asyncio.run(
        _with(
            tmp_path,
            _json({"data": {"items": RECORDS}}),
            lambda p: p.query("places", query),
            records="data.items",
        )
    )
    request = crm.requests[0]
    assert (request.path, request.query) == ("/api/places", "active=true")
    assert request.headers["authorization"] == "Bearer s3cret"
    assert result.table.to_pylist() == [
        {"id": 2, "city": "Cork", "score": 4.0, "seen": datetime(2026, 1, 2, 9, tzinfo=UTC)},
        {"id": 3, "city": None, "score": None, "seen": datetime(2026, 1, 3, 10, tzinfo=UTC)},
    ]


def test_a_materialised_http_product_is_refreshed_against_its_contract(
    tmp_path: Path,
) -> None:
    async def refresh_then_query(products: Products) -> Any:
        record = await products.refresh("places")
        return record, await products.query("places")

    (record, result), _ = asyncio.run(
        _with(tmp_path, _json(RECORDS), refresh_then_query, mode="materialised")
    )
    assert (record.outcome, record.rows_total) == ("ok", 3)
    assert result.table.column("id").to_pylist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("reply", "records", "said"),
    [
        (_json({"error": "down"}, 503), None, "System/crm (GET /places?active=true): answered 503"),
        (Reply(200, {}, b"<html>"), None, "the answer is not JSON"),
        (_json({"items": RECORDS}), None, "the answer is not a JSON array of records"),
        (_json({"data": {}}), "data.items", "the answer has no 'data.items' (records)"),
        (_json([1, 2]), None, "record 0 is not a JSON object"),
    ],
)
def test_an_http_source_that_does_not_answer_records_is_unreadable(
    tmp_path: Path, reply: Reply, records: str | None, said: str
) -> None:
    with pytest.raises(SourceUnreadable, match=re.escape(said)) as exc:
        asyncio.run(_with(tmp_path, reply, lambda p: p.query("places"), records=records))
    assert exc.value.status == 502


def test_an_http_source_that_is_down_is_unreadable(tmp_path: Path) -> None:
    async def closed_port() -> str:
        crm = Receiver()
        await crm.start()
        await crm.stop()  # nothing listens there now
        return crm.url

    url = asyncio.run(closed_port())
    text = PRODUCT % {"url": url, "records": "", "mode": "virtual", "refresh": ""}
    estate = load(make_estate(tmp_path, text))
    products = Products(lambda: estate, tmp_path / "data")

    async def query() -> Any:
        try:
            return await products.query("places")
        finally:
            await products.aclose()

    with pytest.raises(SourceUnreadable, match=r"System/crm \(GET /places\?active=true\): unr"):
        asyncio.run(query())


def test_http_records_of_the_wrong_type_or_lacking_a_column_break_the_contract(
    tmp_path: Path,
) -> None:
    wrong = [{"id": "one", "city": "Galway", "score": 1, "seen": "2026-01-01T10:00:00Z"}]
    with pytest.raises(ContractBroken) as exc:
        asyncio.run(_with(tmp_path, _json(wrong), lambda p: p.query("places")))
    assert [(v.rule, v.column) for v in exc.value.violations] == [("type", "id")]
    lacking = [{"id": 1, "city": "Galway", "score": 1}]
    with pytest.raises(ContractBroken) as exc:
        asyncio.run(_with(tmp_path, _json(lacking), lambda p: p.query("places")))
    assert [(v.rule, v.column) for v in exc.value.violations] == [("columns", "seen")]


def _paged(style: str) -> Callable[[Any], Reply]:
    """A server answering RECORDS one page at a time in ``style``."""

    def answer(request: Any) -> Reply:
        params = dict(p.split("=", 1) for p in request.query.split("&") if "=" in p)
        if style == "cursor":
            at = int(params.get("after", "0").removeprefix("t"))
            nxt = f"t{at + 1}" if at + 1 < len(RECORDS) else None
            return _json({"items": RECORDS[at : at + 1], "meta": {"next": nxt}})
        if style == "page":
            page = int(params["page"])
            return _json({"items": RECORDS[page - 1 : page]})
        offset, size = int(params["offset"]), int(params["limit"])
        return _json({"items": RECORDS[offset : offset + size]})

    return answer


@pytest.mark.parametrize(
    ("style", "pagination", "queries"),
    [
        (
            "cursor",
            "{style: cursor, param: after, next: meta.next}",
            ["active=true", "active=true&after=t1", "active=true&after=t2"],
        ),
        (
            "page",
            "{style: page, param: page}",
            [f"active=true&page={n}" for n in (1, 2, 3, 4)],  # the 4th is empty: the end
        ),
        (
            "offset",
            "{style: offset, param: offset, size: 2, sizeParam: limit}",
            ["active=true&offset=0&limit=2", "active=true&offset=2&limit=2"],  # 1 < 2: the end
        ),
    ],
)
def test_an_http_source_follows_its_pages(
    tmp_path: Path, style: str, pagination: str, queries: list[str]
) -> None:
    async def go() -> tuple[Any, Receiver]:
        crm = Receiver()
        crm.answer(_paged(style), times=None)
        await crm.start()
        text = PRODUCT % {
            "url": crm.url,
            "records": f", records: items, pagination: {pagination}",
            "mode": "virtual",
            "refresh": "",
        }
        estate = load(make_estate(tmp_path, text))
        products = Products(lambda: estate, tmp_path / "data")
        try:
            return await products.query("places", ProductQuery(order_by=("id",))), crm
        finally:
            await products.aclose()
            await crm.stop()

    result, crm = asyncio.run(go())
    assert [r["id"] for r in result.table.to_pylist()] == [1, 2, 3]
    assert [r.query for r in crm.requests] == queries


def test_a_cursor_naming_the_same_page_or_too_many_pages_is_unreadable(tmp_path: Path) -> None:
    again = _json({"items": RECORDS[:1], "next": "same"})
    for pagination, said in (
        ("{style: cursor, param: c, next: next}", "names the same page again"),
        ("{style: page, param: p, maxPages: 3}", "more than 3 pages (maxPages)"),
    ):
        with pytest.raises(SourceUnreadable, match=re.escape(said)):
            asyncio.run(
                _with(
                    tmp_path,
                    again,
                    lambda p: p.query("places"),
                    records=f"items, pagination: {pagination}",
                )
            )
