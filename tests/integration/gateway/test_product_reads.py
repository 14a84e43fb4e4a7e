"""Every read of a product's PII columns through the gateway is a ``read`` lineage record in
the store (SQLite and PostgreSQL): the reader, the columns in clear and masked, the rows, and
whether a page or a SQL statement read them; a read of no PII column records nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.observe.lineage import LineageRecorder, trace_subject
from interlink.products.service import Products
from interlink.store import Store, open_store
from interlink.store.keyring import KeyRing
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.integration.gateway.test_product_route import POLICY, SERVED
from tests.unit.products.helpers import make_estate, orders_db, orders_product

#: The orders' email as a caller without pii:read reads it.
HASHED: dict[str, Any] = {"unmasked": [], "masked": {"email": "hash"}}


@dataclass
class Reads:
    client: httpx.Client
    store: Store
    keyring: KeyRing
    lineage: LineageRecorder

    def key(self, consumer: str) -> dict[str, str]:
        plaintext, _ = self.store.consumer_keys.create(consumer, "test")
        self.keyring.refresh()
        return {"x-api-key": plaintext}

    def recorded(self, product: str) -> list[dict[str, Any]]:
        """The product's read records as the lineage API answers them, once written."""
        asyncio.run(self.lineage.flush())
        trace = trace_subject(self.store, frozenset(), "DataProduct", product)
        return [
            {"to": h["to"], **h["read"]} for h in trace.as_json()["hops"] if h["kind"] == "read"
        ]


@pytest.fixture
def reads(tmp_path: Path, store_url: str) -> Iterator[Reads]:
    orders_db(
        tmp_path,
        [
            (i, "open" if i % 2 else "shipped", f"u{i}@x.io", i * 1.5, "2026-01-01")
            for i in range(1, 8)
        ],
    )
    (tmp_path / "files").mkdir(parents=True, exist_ok=True)
    (tmp_path / "files" / "prices.csv").write_text("status,factor\nopen,2\nshipped,3\n")
    text = orders_product(ttl="0").replace("    - {column: email, method: hash}\n", POLICY)
    root = make_estate(tmp_path, text + SERVED)
    result = check_estate(root)
    assert not [f.render() for f in result.findings if f.severity == "error"]
    with open_store(store_url) as store:
        store.migrate()
        keyring = KeyRing(store)
        products = Products(lambda: result.estate, tmp_path / "products")
        lineage = LineageRecorder(store, result.estate)
        services = GatewayServices(keyring=keyring, store=store, products=products, lineage=lineage)
        config = compile_gateway(result.estate, FAST, services)
        gateway = GatewayThread(config).start()
        try:
            with httpx.Client(base_url=gateway.url) as client:
                yield Reads(client, store, keyring, lineage)
        finally:
            gateway.stop()


def test_a_masked_read_names_its_masked_columns(reads: Reads) -> None:
    page = reads.client.get("/data/orders?columns=id,email&sort=id", headers=reads.key("acme"))
    assert page.status_code == 200, page.text
    assert len(page.json()["data"]) == 4  # acme's row filter: the open orders
    assert reads.recorded("orders") == [
        {
            "to": "Consumer/acme",
            "rows": 4,
            "unmasked": [],
            "masked": {"email": "hash"},
            "via": "page",
        }
    ]


def test_a_read_with_pii_read_is_recorded_unmasked(reads: Reads) -> None:
    page = reads.client.get("/data/orders?limit=2", headers=reads.key("ops"))
    assert page.status_code == 200, page.text
    assert page.json()["data"][0]["email"].endswith("@x.io")
    assert reads.recorded("orders") == [
        {"to": "Consumer/ops", "rows": 2, "unmasked": ["email"], "masked": {}, "via": "page"}
    ]


def test_no_pii_column_read_records_nothing(reads: Reads) -> None:
    acme = reads.key("acme")
    assert reads.client.get("/data/orders?columns=id,amount", headers=acme).status_code == 200
    assert reads.client.get("/data/prices").status_code == 200
    sql = reads.client.post("/data/prices/sql", content="SELECT count(*) AS n FROM prices")
    assert sql.status_code == 200, sql.text
    assert reads.recorded("orders") == []
    assert reads.recorded("prices") == []
    assert reads.store.lineage.trace("customer", "1") == []


def test_a_filter_on_a_pii_column_is_a_read_of_it(reads: Reads) -> None:
    ops = reads.key("ops")
    page = reads.client.get("/data/orders?columns=id&email=u3@x.io", headers=ops)
    assert page.json()["data"] == [{"id": 3}]
    assert reads.recorded("orders") == [
        {"to": "Consumer/ops", "rows": 1, "unmasked": ["email"], "masked": {}, "via": "page"}
    ]


def test_each_product_a_sql_statement_reads_is_recorded_once_answered(reads: Reads) -> None:
    acme = reads.key("acme")
    sql = "SELECT o.status, count(*) AS n FROM orders o JOIN prices p USING (status) GROUP BY 1"
    answer = reads.client.post("/data/orders/sql", content=sql, headers=acme)
    assert answer.status_code == 200, answer.text
    assert reads.recorded("orders") == [
        {
            "to": "Consumer/acme",
            "rows": 4,
            "unmasked": [],
            "masked": {"email": "hash"},
            "via": "sql",
        }
    ]
    assert reads.recorded("prices") == []  # no PII column
    # A statement that fails once it has read the product answers nothing: no record.
    failing = "SELECT CAST(status AS INTEGER) AS n FROM orders"
    refused = reads.client.post("/data/orders/sql", content=failing, headers=acme)
    assert refused.status_code == 400, refused.text
    assert len(reads.recorded("orders")) == 1


def test_reads_and_served_hops_are_both_kept(reads: Reads) -> None:
    # The product declares a subject: the read record comes with a served hop per row.
    reads.client.get("/data/orders?columns=id,email&limit=2&sort=id", headers=reads.key("ops"))
    assert len(reads.recorded("orders")) == 1
    hops = reads.store.lineage.trace("customer", "1")
    assert [(h.kind, h.target, h.detail) for h in hops] == [("served", "Consumer/ops", "email")]
