"""Every read of a product's PII columns through the gateway is a ``read`` lineage record in
the store (SQLite and PostgreSQL): the reader, the columns in clear and masked, the rows, and
whether a page or a SQL statement read them; a read of no PII column records nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.observe.lineage import trace_subject
from tests.integration.gateway.test_product_route import Served, serving

#: The orders' email as a caller without pii:read reads it.
HASHED: dict[str, Any] = {"unmasked": [], "masked": {"email": "hash"}}


@pytest.fixture
def reads(tmp_path: Path, store_url: str) -> Iterator[Served]:
    with serving(tmp_path, store_url) as found:
        yield found


def recorded(served: Served, product: str) -> list[dict[str, Any]]:
    """The product's read records as the lineage API answers them, once written."""
    asyncio.run(served.lineage.flush())
    trace = trace_subject(served.store, frozenset(), "DataProduct", product)
    return [{"to": h["to"], **h["read"]} for h in trace.as_json()["hops"] if h["kind"] == "read"]


def test_a_masked_read_names_its_masked_columns(reads: Served) -> None:
    page = reads.client.get("/data/orders?columns=id,email&sort=id", headers=reads.key("acme"))
    assert page.status_code == 200, page.text
    assert len(page.json()["data"]) == 4  # acme's row filter: the open orders
    assert recorded(reads, "orders") == [
        {
            "to": "Consumer/acme",
            "rows": 4,
            "unmasked": [],
            "masked": {"email": "hash"},
            "via": "page",
        }
    ]


def test_a_read_with_pii_read_is_recorded_unmasked(reads: Served) -> None:
    page = reads.client.get("/data/orders?limit=2", headers=reads.key("ops"))
    assert page.status_code == 200, page.text
    assert page.json()["data"][0]["email"].endswith("@x.io")
    assert recorded(reads, "orders") == [
        {"to": "Consumer/ops", "rows": 2, "unmasked": ["email"], "masked": {}, "via": "page"}
    ]


def test_no_pii_column_read_records_nothing(reads: Served) -> None:
    acme = reads.key("acme")
    assert reads.client.head("/data/orders?columns=id,email", headers=acme).status_code == 200
    assert reads.client.get("/data/orders?columns=id,amount", headers=acme).status_code == 200
    assert reads.client.get("/data/prices").status_code == 200
    sql = reads.client.post("/data/prices/sql", content="SELECT count(*) AS n FROM prices")
    assert sql.status_code == 200, sql.text
    assert recorded(reads, "orders") == []
    assert recorded(reads, "prices") == []
    assert reads.store.lineage.trace("customer", "1") == []


def test_a_filter_on_a_pii_column_is_a_read_of_it(reads: Served) -> None:
    ops = reads.key("ops")
    page = reads.client.get("/data/orders?columns=id&email=u3@x.io", headers=ops)
    assert page.json()["data"] == [{"id": 3}]
    assert recorded(reads, "orders") == [
        {"to": "Consumer/ops", "rows": 1, "unmasked": ["email"], "masked": {}, "via": "page"}
    ]


def test_each_product_a_sql_statement_reads_is_recorded_once_answered(reads: Served) -> None:
    acme = reads.key("acme")
    sql = "SELECT o.status, count(*) AS n FROM orders o JOIN prices p USING (status) GROUP BY 1"
    answer = reads.client.post("/data/orders/sql", content=sql, headers=acme)
    assert answer.status_code == 200, answer.text
    assert recorded(reads, "orders") == [
        {
            "to": "Consumer/acme",
            "rows": 4,
            "unmasked": [],
            "masked": {"email": "hash"},
            "via": "sql",
        }
    ]
    assert recorded(reads, "prices") == []  # no PII column
    # A statement that fails once it has read the product answers nothing: no record.
    failing = "SELECT CAST(status AS INTEGER) AS n FROM orders"
    refused = reads.client.post("/data/orders/sql", content=failing, headers=acme)
    assert refused.status_code == 400, refused.text
    assert len(recorded(reads, "orders")) == 1


def test_reads_and_served_hops_are_both_kept(reads: Served) -> None:
    # The product declares a subject: the read record comes with a served hop per row.
    reads.client.get("/data/orders?columns=id,email&limit=2&sort=id", headers=reads.key("ops"))
    assert len(recorded(reads, "orders")) == 1
    hops = reads.store.lineage.trace("customer", "1")
    assert [(h.kind, h.target, h.detail) for h in hops] == [("served", "Consumer/ops", "email")]
