"""Data products over a SQLite database and local files: queries, refreshes, the contract."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interlink.connectors.base import ConnectionFailed
from interlink.errors import ConfigError
from interlink.observe import signals
from interlink.products.errors import ContractBroken, NotRefreshed, SourceUnreadable
from interlink.products.filters import Filter, Op, parse_filter
from interlink.products.history import RefreshHistory
from interlink.products.query import Policy, ProductQuery
from interlink.products.schedule import RefreshSchedule
from interlink.products.service import Products
from interlink.store import Store, open_store
from tests.unit.products.helpers import add_orders, load, make_estate, orders_db, orders_product

ROWS = [
    (1, "open", "ann@example.org", 10.0, "2026-01-01 10:00:00"),
    (2, "shipped", "bob@example.org", 5.5, "2026-01-02 10:00:00"),
    (3, "open", "cy@example.org", 7.25, "2026-01-03 10:00:00"),
]


def _refreshes(product: str) -> tuple[int, int]:
    """The refreshes of ``product`` held in the monitors' signals now, and the failed ones."""
    buckets = [
        b for (_, k, n), b in signals.RECORDER.buckets.items() if (k, n) == ("DataProduct", product)
    ]
    return sum(b.count for b in buckets), sum(b.errors for b in buckets)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        opened.migrate()
        yield opened


def _products(root: Path, text: str, store: Store | None = None) -> Products:
    estate = load(make_estate(root, text))
    history = RefreshHistory(store.db) if store is not None else None
    return Products(lambda: estate, root / "data", history=history)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _closing(products: Products, coro: Any) -> Any:
    try:
        return await coro
    finally:
        await products.aclose()


def test_a_virtual_query_pushes_filters_into_the_source_and_masks(tmp_path: Path) -> None:
    orders_db(tmp_path, ROWS)
    products = _products(tmp_path, orders_product())
    query = ProductQuery(
        columns=("id", "email", "placed_at"),
        filters=(parse_filter("status=open"), parse_filter("amount=ge:7")),
        order_by=("-id",),
    )
    result = _run(_closing(products, products.query("orders", query)))
    rows = result.table.to_pylist()
    assert [r["id"] for r in rows] == [3, 1]
    assert all(len(r["email"]) == 64 for r in rows)  # the product's own mask: hash
    assert rows[0]["placed_at"] == datetime(2026, 1, 3, 10, tzinfo=UTC)
    assert result.next_cursor is None
    assert result.table.schema.field("id").type == pa.int64()


def test_a_virtual_read_is_cached_for_its_ttl(tmp_path: Path) -> None:
    orders_db(tmp_path, ROWS)
    now = [0.0]
    products = _products(tmp_path, orders_product(ttl="30"))
    products.monotonic = lambda: now[0]

    async def go() -> list[int]:
        counts = [(await products.query("orders")).table.num_rows]
        add_orders(tmp_path, [(4, "open", "d@example.org", 1.0, "2026-01-04 10:00:00")])
        counts.append((await products.query("orders")).table.num_rows)  # cached
        now[0] = 31.0
        counts.append((await products.query("orders")).table.num_rows)  # read again
        return counts

    assert _run(_closing(products, go())) == [3, 3, 4]


def test_a_virtual_read_that_breaks_the_contract_is_refused_whole(tmp_path: Path) -> None:
    orders_db(tmp_path, [*ROWS, (4, "lost", "d@example.org", -1.0, "2026-01-04 10:00:00")])
    products = _products(tmp_path, orders_product())
    with pytest.raises(ContractBroken) as caught:
        _run(_closing(products, products.query("orders")))
    rules = {(v.rule, v.column) for v in caught.value.violations}
    assert rules == {("allowed", "status"), ("minimum", "amount")}
    assert "DataProduct/orders: contract broken: status: 1 row(s) hold a value not allowed" in str(
        caught.value
    )


def test_a_column_of_another_type_is_a_violation(tmp_path: Path) -> None:
    orders_db(tmp_path, [(1, "open", "a@x.io", 1.0, "not a time")])
    products = _products(tmp_path, orders_product())
    with pytest.raises(ContractBroken, match="placed_at: holds str values, not timestamp"):
        _run(_closing(products, products.query("orders")))


def test_a_source_that_is_down_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "shop.db").mkdir()  # no database can be opened there
    products = _products(tmp_path, orders_product())
    with pytest.raises(ConnectionFailed, match="System/shop"):
        _run(_closing(products, products.query("orders")))


def test_materialised_refresh_serves_the_file_and_a_bad_refresh_keeps_the_last_good(
    tmp_path: Path, store: Store
) -> None:
    orders_db(tmp_path, ROWS)
    text = orders_product("materialised", refresh="  refresh: {schedule: '0 * * * *'}")
    products = _products(tmp_path, text, store)
    before = _refreshes("orders")

    async def go() -> None:
        with pytest.raises(NotRefreshed):
            await products.query("orders")
        first = await products.refresh("orders")
        assert (first.outcome, first.rows_total) == ("ok", 3)
        orders_db(tmp_path, [*ROWS, (4, "lost", "d@example.org", 1.0, "2026-01-04 10:00:00")])
        with pytest.raises(ContractBroken):
            await products.refresh("orders")
        served = await products.query("orders", ProductQuery(columns=("id",)))
        assert served.table.column("id").to_pylist() == [1, 2, 3]  # the last good data

    _run(_closing(products, go()))
    history = RefreshHistory(store.db).recent("orders")
    assert [r.outcome for r in history] == ["failed", "ok"]
    assert [(v.rule, v.column) for v in history[0].violations] == [("allowed", "status")]
    assert "status" in str(history[0].error)
    # Both told to the monitors' signals: a freshness Monitor ages from the good one.
    after = _refreshes("orders")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)


def test_an_incremental_refresh_reads_past_the_cursor(tmp_path: Path, store: Store) -> None:
    orders_db(tmp_path, ROWS)
    refresh = "  refresh: {schedule: '0 * * * *', cursor: id}"
    products = _products(tmp_path, orders_product("materialised", refresh=refresh), store)

    async def go() -> list[tuple[int, int, str | None]]:
        done = []
        first = await products.refresh("orders")
        done.append((first.rows_total, first.rows_added, first.cursor))
        add_orders(tmp_path, [(4, "open", "d@example.org", 1.0, "2026-01-04 10:00:00")])
        second = await products.refresh("orders")
        done.append((second.rows_total, second.rows_added, second.cursor))
        # A row changed below the cursor is not read again: only rows past it are.
        add_orders(tmp_path, [(5, "open", "e@example.org", 1.0, "2026-01-05 10:00:00")])
        third = await products.refresh("orders")
        done.append((third.rows_total, third.rows_added, third.cursor))
        return done

    assert _run(_closing(products, go())) == [(3, 3, "3"), (4, 1, "4"), (5, 1, "5")]
    ids = pq.read_table(tmp_path / "data" / "orders" / "data.parquet").column("id").to_pylist()
    assert ids == [1, 2, 3, 4, 5]


def test_unique_is_judged_over_the_whole_data_after_an_incremental_refresh(
    tmp_path: Path, store: Store
) -> None:
    orders_db(tmp_path, ROWS)
    refresh = "  refresh: {schedule: '0 * * * *', cursor: placed_at}"
    products = _products(tmp_path, orders_product("materialised", refresh=refresh), store)

    async def go() -> None:
        await products.refresh("orders")
        # Order 2 changed after the cursor: read again, it would be in the data twice.
        with sqlite3.connect(tmp_path / "shop.db") as db:
            db.execute("UPDATE orders SET placed_at = '2026-02-01 00:00:00' WHERE id = 2")
        with pytest.raises(ContractBroken, match=r"id: 1 value\(s\) repeated"):
            await products.refresh("orders")
        served = await products.query("orders", ProductQuery(columns=("id",)))
        assert served.table.column("id").to_pylist() == [1, 2, 3]

    _run(_closing(products, go()))


def test_a_refresh_killed_midway_leaves_the_current_file(tmp_path: Path) -> None:
    orders_db(tmp_path, ROWS)
    products = _products(tmp_path, orders_product("materialised"))
    _run(products.refresh("orders"))
    folder = tmp_path / "data" / "orders"
    before = (folder / "data.parquet").read_bytes()
    stray = folder / ".data.0123456789ab.parquet"
    stray.write_bytes(b"half a file")  # what a process killed while writing leaves
    writing = folder / ".data.ba9876543210.parquet"  # another node's refresh, on a shared dir
    writing.write_bytes(b"being written")
    old = time.time() - 2 * 3600
    os.utime(stray, (old, old))
    assert (folder / "data.parquet").read_bytes() == before
    _run(_closing(products, products.refresh("orders")))
    assert not stray.exists()
    assert sorted(p.name for p in folder.iterdir()) == [writing.name, "data.parquet"]


def test_a_virtual_product_is_not_refreshed(tmp_path: Path) -> None:
    orders_db(tmp_path, ROWS)
    products = _products(tmp_path, orders_product())
    with pytest.raises(ConfigError, match="is virtual"):
        _run(_closing(products, products.refresh("orders")))


FILE_PRODUCT = """\
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: prices, owner: data}
spec:
  domain: sales
  source: {system: drop, type: %(type)s, location: %(location)s}
  mode: %(mode)s
  contract:
    columns:
      - {name: sku, type: string, nullable: false, unique: true, pattern: '^[A-Z]+-[0-9]+$'}
      - {name: price, type: number, minimum: 0}
      - {name: since, type: date, minimum: '2020-01-01'}
"""


def _file_product(kind: str, location: str, mode: str = "virtual") -> str:
    return FILE_PRODUCT % {"type": kind, "location": location, "mode": mode}


def test_a_csv_file_is_read_natively(tmp_path: Path) -> None:
    products = _products(tmp_path, _file_product("csv", "in/prices.csv"))
    (tmp_path / "files" / "in").mkdir()
    (tmp_path / "files" / "in" / "prices.csv").write_text(
        "sku,price,since,extra\nAB-1,2.5,2024-01-02,x\nCD-2,3,2025-03-04,y\n"
    )
    query = ProductQuery(filters=(Filter("since", Op.GT, "2024-06-01"),))
    rows = _run(_closing(products, products.query("prices", query))).table.to_pylist()
    assert rows == [{"sku": "CD-2", "price": 3.0, "since": datetime(2025, 3, 4).date()}]


def test_parquet_and_json_files_are_read_and_materialised(tmp_path: Path) -> None:
    table = pa.table({"sku": ["AB-1", "CD-2"], "price": [1.5, 2.0], "since": ["2024-01-01"] * 2})
    (tmp_path / "files").mkdir()
    pq.write_table(table, tmp_path / "files" / "prices.parquet")
    (tmp_path / "files" / "prices.json").write_text(
        json.dumps([{"sku": "EF-3", "price": 4, "since": "2024-05-05"}])
    )
    products = _products(tmp_path, _file_product("parquet", "prices.parquet", "materialised"))
    record = _run(products.refresh("prices"))
    assert record.rows_total == 2
    json_products = _products(tmp_path, _file_product("json", "prices.json"))
    rows = _run(_closing(json_products, json_products.query("prices"))).table.to_pylist()
    assert rows[0]["sku"] == "EF-3"


def test_a_file_that_does_not_parse_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "prices.parquet").write_bytes(b"PAR1 this is not parquet")
    products = _products(tmp_path, _file_product("parquet", "prices.parquet", "materialised"))
    with pytest.raises(SourceUnreadable, match=r"System/drop \(prices.parquet\): not a readable"):
        _run(_closing(products, products.refresh("prices")))
    assert not (tmp_path / "data" / "prices" / "data.parquet").exists()


def test_a_file_breaking_a_pattern_or_a_missing_column(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "p.csv").write_text("sku,price,since\nbad,1,2024-01-01\n")
    products = _products(tmp_path, _file_product("csv", "p.csv"))
    with pytest.raises(ContractBroken, match=r"sku: 1 row\(s\) do not match"):
        _run(_closing(products, products.query("prices")))
    (tmp_path / "files" / "p.csv").write_text("sku,price\nAB-1,1\n")
    products = _products(tmp_path, _file_product("csv", "p.csv"))
    with pytest.raises(ContractBroken, match="since: the source has no such column"):
        _run(_closing(products, products.query("prices")))


def test_the_schedule_refreshes_what_is_due(tmp_path: Path, store: Store) -> None:
    orders_db(tmp_path, ROWS)
    refresh = "  refresh: {schedule: '0 3 * * *'}"
    products = _products(tmp_path, orders_product("materialised", refresh=refresh), store)
    now = [datetime(2026, 1, 1, 2, 0, tzinfo=UTC)]
    schedule = RefreshSchedule(products, clock=lambda: now[0])
    assert schedule.due(now[0]) == ["orders"]  # never refreshed: at once
    products.clock = lambda: now[0]
    _run(products.refresh("orders"))
    assert schedule.due(now[0]) == []
    assert schedule.due(datetime(2026, 1, 1, 3, 0, tzinfo=UTC)) == ["orders"]
    _run(products.aclose())


def test_filters_take_their_columns_type(tmp_path: Path) -> None:
    orders_db(tmp_path, ROWS)
    products = _products(tmp_path, orders_product())

    async def go() -> None:
        from interlink.products.filters import FilterError

        with pytest.raises(FilterError, match="'x' is not a integer"):
            await products.query("orders", ProductQuery(filters=(parse_filter("id=x"),)))
        got = await products.query(
            "orders",
            ProductQuery(filters=(parse_filter("placed_at=lt:2026-01-02T00:00:00"),)),
            Policy(),
        )
        assert got.table.column("email").to_pylist() == ["ann@example.org"]  # no policy: no mask

    _run(_closing(products, go()))


def test_the_schedule_runs_its_refreshes_in_the_background(tmp_path: Path, store: Store) -> None:
    orders_db(tmp_path, ROWS)
    refresh = "  refresh: {schedule: '0 3 * * *'}"
    products = _products(tmp_path, orders_product("materialised", refresh=refresh), store)
    history = RefreshHistory(store.db)

    async def go() -> int:
        schedule = RefreshSchedule(products, interval=0.02)
        await schedule.start()
        try:
            for _ in range(250):  # due at once: never refreshed
                if history.last("orders") is not None:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # and not again before its next cron time
        finally:
            await schedule.close()
            await products.aclose()
        return len(history.recent("orders"))

    assert _run(go()) == 1


def test_a_pattern_duckdb_cannot_run_fails_the_refresh_in_one_line(
    tmp_path: Path, store: Store
) -> None:
    orders_db(tmp_path, ROWS)
    text = orders_product("materialised").replace(
        "{name: email, type: string, pii: true}",
        "{name: email, type: string, pii: true, pattern: '(?=x).*'}",
    )
    products = _products(tmp_path, text, store)
    with pytest.raises(ConfigError, match="the contract's rules cannot be checked"):
        _run(_closing(products, products.refresh("orders")))
    last = RefreshHistory(store.db).last("orders")
    assert last is not None
    assert last.outcome == "failed"


ORDER_EVENT = """\
---
apiVersion: interlink/v1
kind: Event
metadata: {name: order.placed, owner: data}
spec:
  system: shop
  schemas: [{version: 1, file: order.schema.json}]
"""


def test_a_published_event_refreshes_its_product_once(tmp_path: Path, store: Store) -> None:
    from interlink.events.backends.embedded import EmbeddedBus
    from interlink.events.bus import Envelope, StreamSpec

    orders_db(tmp_path, ROWS)
    text = orders_product("materialised", refresh="  refresh: {event: order.placed}")
    estate_dir = make_estate(tmp_path, text + ORDER_EVENT)
    (estate_dir / "order.schema.json").write_text('{"type": "object"}')
    estate = load(estate_dir)
    products = Products(lambda: estate, tmp_path / "data", history=RefreshHistory(store.db))
    now = [datetime(2026, 1, 1, 2, 0, tzinfo=UTC)]
    products.clock = lambda: now[0]
    bus = EmbeddedBus(tmp_path / "events.db", clock=lambda: now[0])
    schedule = RefreshSchedule(products, clock=lambda: now[0], bus=bus)

    def event(n: int) -> Envelope:
        return Envelope("order.placed", f"e{n}", "shop", None, b"{}")

    async def go() -> None:
        await bus.open()
        await bus.ensure([StreamSpec("order.placed", 60.0, 65536)], [])
        try:
            assert schedule.due(now[0]) == []  # no schedule
            assert await schedule.refresh_due() == ["orders"]  # never refreshed: at once
            assert await schedule.refresh_due() == []  # nothing published since
            now[0] = datetime(2026, 1, 1, 2, 5, tzinfo=UTC)
            await bus.publish([event(1), event(2), event(3)])
            add_orders(tmp_path, [(4, "open", "di@example.org", 1.0, "2026-01-04 10:00:00")])
            now[0] = datetime(2026, 1, 1, 2, 6, tzinfo=UTC)
            assert await schedule.refresh_due() == ["orders"]  # three events, one refresh
            assert await schedule.refresh_due() == []
            # A node taking the lease over finds the events in the log, not in its memory.
            await bus.publish([event(4)])
            now[0] = datetime(2026, 1, 1, 2, 7, tzinfo=UTC)
            fresh = RefreshSchedule(products, clock=lambda: now[0], bus=bus)
            assert await fresh.published() == ["orders"]
        finally:
            await bus.close()
            await products.aclose()

    _run(go())
    last = RefreshHistory(store.db).last("orders")
    assert last is not None
    assert last.rows_total == 4


def test_row_filters_compare_and_list_inside_the_query(tmp_path: Path) -> None:
    from interlink.estate.kinds.data import RowFilter
    from interlink.products.access import policy_for

    orders_db(tmp_path, [*ROWS, (4, "shipped", "di@example.org", 20.0, "2026-01-04 10:00:00")])
    where: dict[str, Any] = {
        "amount": {"ge": 6, "lt": 20},
        "id": {"notIn": [3]},
        "status": {"in": ["open", "shipped"]},
    }
    policy = policy_for([], [RowFilter(consumer="acme", where=where)], "acme", frozenset())
    for mode in ("virtual", "materialised"):
        products = _products(tmp_path / mode, orders_product(mode=mode), None)
        orders_db(tmp_path / mode, [*ROWS, (4, "shipped", "di@example.org", 20.0, "2026-01-04")])

        async def go(products: Products = products, mode: str = mode) -> list[int]:
            if mode == "materialised":
                await products.refresh("orders")
            result = await products.query("orders", ProductQuery(order_by=("id",)), policy)
            return [r["id"] for r in result.table.to_pylist()]

        assert _run(_closing(products, go())) == [1], mode
    # Stated against the estate's text, the same filter is read through the model.
    assert RowFilter.model_validate({"consumer": "a", "where": where}).where["id"] is not None


COMPOSED = """\
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: prices, owner: data}
spec:
  domain: sales
  source: {system: drop, type: csv, location: prices.csv}
  contract:
    columns: [{name: status, type: string}, {name: factor, type: number}]
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: priced, owner: data}
spec:
  domain: sales
  source:
    type: products
    query: >-
      SELECT o.id, o.email, o.amount * p.factor AS total
      FROM orders o JOIN prices p USING (status)
  mode: %(mode)s
  contract:
    columns:
      - {name: id, type: integer, unique: true}
      - {name: email, type: string, pii: true}
      - {name: total, type: number, minimum: 0}
  masking:
    - {column: email, method: redact}
"""


def test_a_products_source_joins_other_products_unmasked_then_masks_its_own(
    tmp_path: Path,
) -> None:
    orders_db(tmp_path, ROWS)
    (tmp_path / "files").mkdir(parents=True, exist_ok=True)
    (tmp_path / "files" / "prices.csv").write_text("status,factor\nopen,2\nshipped,3\n")
    for mode in ("virtual", "materialised"):
        products = _products(tmp_path, orders_product() + COMPOSED % {"mode": mode})

        async def go(products: Products = products, mode: str = mode) -> Any:
            if mode == "materialised":
                await products.refresh("priced")
            return await products.query("priced", ProductQuery(order_by=("id",)))

        rows = _run(_closing(products, go())).table.to_pylist()
        # orders' own mask (hash) does not apply inside: priced redacts the real value.
        assert rows == [
            {"id": 1, "email": "***", "total": 20.0},
            {"id": 2, "email": "***", "total": 16.5},
            {"id": 3, "email": "***", "total": 14.5},
        ], mode
        whole = _run(_closing(products, products.query("priced", policy=Policy())))
        assert whole.table.column("email").to_pylist()[0] == "ann@example.org"


def _composed(name: str, sql: str) -> str:
    """A virtual products source ``name`` reading ``sql`` (id, email, total)."""
    body = COMPOSED.split(
        "---\napiVersion: interlink/v1\nkind: DataProduct\nmetadata: {name: priced"
    )[1]
    return (
        "---\napiVersion: interlink/v1\nkind: DataProduct\nmetadata: {name: "
        + name
        + body.replace("%(mode)s", "virtual").split("    query: >-\n")[0]
        + f"    query: {sql}\n  contract:\n    columns: [{{name: id, type: integer}}]\n"
    )


def test_a_products_source_that_reads_itself_is_refused(tmp_path: Path) -> None:
    from interlink.connectors.registry import registry
    from interlink.estate.check import check_estate

    text = orders_product()
    text += _composed("ping", "SELECT id FROM pong")
    text += _composed("pong", "SELECT id FROM ping")
    products = _products(tmp_path, text)
    with pytest.raises(ConfigError, match=r"its source reads itself \(ping → pong → ping\)"):
        _run(_closing(products, products.query("ping")))
    bad = orders_product()
    bad += _composed("lost", "SELECT id FROM nope")
    bad += _composed("me", "SELECT id FROM me")
    bad += _composed("files", "SELECT 1 AS id FROM read_csv('/etc/passwd')")
    result = check_estate(make_estate(tmp_path / "check", bad), connectors=registry())
    found = [f.message for f in result.findings if f.code == "PRODUCT_SOURCE"]
    assert found == [
        "DataProduct/lost: its source query reads 'nope', which is no DataProduct",
        "DataProduct/me: its source query reads itself",
        "DataProduct/files: its source query is refused: it calls the table function "
        "read_csv: only products can be read",
    ]
