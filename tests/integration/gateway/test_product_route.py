"""Data products served by the gateway (Routes with ``product:``): pages in each format, the
caller's masks and row filter, the SQL endpoint's limits, and bad input as problem+json."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.observe.lineage import LineageRecorder
from interlink.products.service import Products
from interlink.store import Store, open_store
from interlink.store.keyring import KeyRing
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.unit.products.helpers import make_estate, orders_db, orders_product

SERVED = """\
---
apiVersion: interlink/v1
kind: Plan
metadata: {name: basic}
spec: {}
---
apiVersion: interlink/v1
kind: Consumer
metadata: {name: acme, owner: data}
spec: {type: partner, plan: basic}
---
apiVersion: interlink/v1
kind: Consumer
metadata: {name: ops, owner: data}
spec: {type: internal, plan: basic, scopes: ['pii:read']}
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: prices, owner: data}
spec:
  domain: sales
  source: {system: drop, type: csv, location: prices.csv}
  contract:
    columns:
      - {name: status, type: string}
      - {name: factor, type: number}
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: missing, owner: data}
spec:
  domain: sales
  source: {system: drop, type: csv, location: missing.csv}
  contract:
    columns: [{name: id, type: integer}]
---
apiVersion: interlink/v1
kind: Route
metadata: {name: orders, owner: data}
spec:
  match: {path: /data/orders}
  product: orders
  auth: {methods: [{type: apiKey}]}
---
apiVersion: interlink/v1
kind: Route
metadata: {name: prices, owner: data}
spec: {match: {path: /data/prices}, product: prices}
---
apiVersion: interlink/v1
kind: Route
metadata: {name: missing, owner: data}
spec: {match: {path: /data/missing}, product: missing}
---
apiVersion: interlink/v1
kind: System
metadata: {name: feed, owner: data}
spec: {domain: sales, baseUrl: 'http://127.0.0.1:1'}
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: feed, owner: data}
spec:
  domain: sales
  source: {system: feed, type: http, location: /rows}
  contract:
    columns: [{name: id, type: integer}]
---
apiVersion: interlink/v1
kind: Route
metadata: {name: feed, owner: data}
spec: {match: {path: /data/feed}, product: feed}
---
apiVersion: interlink/v1
kind: Route
metadata: {name: internal, owner: data}
spec:
  match: {path: /data/internal}
  product: prices-internal
  auth: {methods: [{type: apiKey}], scopes: [admin]}
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: prices-internal, owner: data}
spec:
  domain: sales
  source: {system: drop, type: csv, location: prices.csv}
  contract:
    columns: [{name: status, type: string}]
"""

#: The orders' policy: email hashed unless the caller holds pii:read; acme sees open orders.
POLICY = """\
    - {column: email, method: hash, unmaskedFor: ['pii:read']}
  subject: {type: customer, key: id}
  rowFilters:
    - {consumer: acme, where: {status: open}}
"""


@dataclass
class Served:
    client: httpx.Client
    store: Store
    keyring: KeyRing
    lineage: LineageRecorder

    def key(self, consumer: str) -> dict[str, str]:
        plaintext, _ = self.store.consumer_keys.create(consumer, "test")
        self.keyring.refresh()
        return {"x-api-key": plaintext}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path, f"sqlite:///{tmp_path / 'store.db'}") as found:
        yield found


@contextmanager
def serving(tmp_path: Path, store_url: str) -> Iterator[Served]:
    """The orders (over SQLite, email hashed for acme) and the products of SERVED, through a
    gateway whose keys, reads and lineage are in the store at ``store_url``."""
    orders_db(
        tmp_path,
        [
            (i, "open" if i % 2 else "shipped", f"u{i}@x.io", i * 1.5, "2026-01-01")
            for i in range(1, 8)
        ],
    )
    (tmp_path / "files" / "prices.csv").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "files" / "prices.csv").write_text("status,factor\nopen,2\nshipped,3\n")
    text = orders_product(ttl="0").replace("    - {column: email, method: hash}\n", POLICY)
    text += SERVED
    root = make_estate(tmp_path, text)
    result = check_estate(root)
    errors = [f.render() for f in result.findings if f.severity == "error"]
    assert not errors, errors
    with open_store(store_url) as store:
        store.migrate()
        keyring = KeyRing(store)
        products = Products(lambda: result.estate, tmp_path / "products")
        lineage = LineageRecorder(store, result.estate)
        services = GatewayServices(keyring=keyring, store=store, products=products, lineage=lineage)
        config = compile_gateway(result.estate, FAST, services)
        assert not config.unserved, config.unserved_line()
        gateway = GatewayThread(config).start()
        try:
            with httpx.Client(base_url=gateway.url) as client:
                yield Served(client, store, keyring, lineage)
        finally:
            gateway.stop()


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_json_pages_follow_the_cursor(served: Served) -> None:
    ops = served.key("ops")
    first = served.client.get("/data/orders?sort=-id&limit=3&columns=id,amount", headers=ops)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["data"] == [
        {"id": 7, "amount": 10.5},
        {"id": 6, "amount": 9.0},
        {"id": 5, "amount": 7.5},
    ]
    assert first.headers["link"].startswith("</data/orders?")
    assert 'rel="next"' in first.headers["link"]
    ids = [r["id"] for r in body["data"]]
    while body["next"]:
        page = served.client.get(
            "/data/orders", params={"sort": "-id", "limit": 3, "cursor": body["next"]}, headers=ops
        )
        body = page.json()
        ids += [r["id"] for r in body["data"]]
    assert ids == [7, 6, 5, 4, 3, 2, 1]
    assert "link" not in page.headers


def test_csv_parquet_and_arrow_answers_parse(served: Served) -> None:
    answers = {}
    for media in (
        "text/csv",
        "application/vnd.apache.parquet",
        "application/vnd.apache.arrow.stream",
    ):
        got = served.client.get("/data/prices?sort=status", headers={"accept": media})
        assert got.status_code == 200
        assert got.headers["content-type"] == media
        answers[media] = got.content
    csv = pcsv.read_csv(io.BytesIO(answers["text/csv"]))
    parquet = pq.read_table(io.BytesIO(answers["application/vnd.apache.parquet"]))
    arrow = pa.ipc.open_stream(answers["application/vnd.apache.arrow.stream"]).read_all()
    for table in (csv, parquet, arrow):
        assert table.to_pylist() == [
            {"status": "open", "factor": 2.0},
            {"status": "shipped", "factor": 3.0},
        ]
    problem(served.client.get("/data/prices", headers={"accept": "image/png"}), 406)


def test_masks_depend_on_scope_and_a_partner_sees_its_rows(served: Served) -> None:
    ops = served.client.get(
        "/data/orders?sort=id&columns=id,email,status", headers=served.key("ops")
    )
    acme = served.client.get(
        "/data/orders?sort=id&columns=id,email,status", headers=served.key("acme")
    )
    assert ops.json()["data"][0] == {"id": 1, "email": "u1@x.io", "status": "open"}
    assert len(ops.json()["data"]) == 7
    rows = acme.json()["data"]
    assert [r["id"] for r in rows] == [1, 3, 5, 7]  # its row filter: status open
    assert all(len(r["email"]) == 64 and "@" not in r["email"] for r in rows)  # hashed
    # A filter on the masked column sees only the hash: it cannot probe the real value.
    probe = served.client.get("/data/orders?email=u1@x.io", headers=served.key("acme"))
    assert probe.json()["data"] == []
    assert problem(served.client.get("/data/orders"), 401)


def test_bad_filters_and_columns_are_400_naming_them(served: Served) -> None:
    ops = served.key("ops")
    unknown = problem(served.client.get("/data/orders?columns=id,nope", headers=ops), 400)
    assert "'nope'" in unknown["detail"]
    typed = problem(served.client.get("/data/orders?filter=id:gt:many", headers=ops), 400)
    assert typed["detail"] == "id: 'many' is not a integer"
    assert (
        "column:op:value"
        in problem(served.client.get("/data/orders?filter=id", headers=ops), 400)["detail"]
    )
    assert "limit" in problem(served.client.get("/data/orders?limit=0", headers=ops), 400)["detail"]
    assert (
        "cursor" in problem(served.client.get("/data/orders?cursor=zz", headers=ops), 400)["detail"]
    )


def test_a_source_that_is_down_is_a_5xx_problem_and_no_rows(served: Served) -> None:
    got = served.client.get("/data/missing")
    body = problem(got, 502)
    assert "System/drop" in body["detail"]
    assert "missing.csv" in body["detail"]
    assert "data" not in body
    sql = served.client.post("/data/missing/sql", content="SELECT * FROM missing")
    assert "missing.csv" in problem(sql, 502)["detail"]
    # An http source that does not answer (nothing listens on port 1).
    feed = problem(served.client.get("/data/feed"), 502)
    assert feed["detail"].startswith("System/feed (GET /rows): unreachable")


def test_sql_reads_the_callers_products_only(served: Served) -> None:
    acme = served.key("acme")
    joined = served.client.post(
        "/data/orders/sql",
        content="SELECT o.id, o.amount * p.factor AS total "
        "FROM orders o JOIN prices p USING (status) ORDER BY id",
        headers=acme,
    )
    assert joined.status_code == 200, joined.text
    assert joined.json()["data"] == [
        {"id": 1, "total": 3.0},
        {"id": 3, "total": 9.0},
        {"id": 5, "total": 15.0},
        {"id": 7, "total": 21.0},
    ]  # its row filter applies inside SQL too
    hashed = served.client.post(
        "/data/orders/sql", content="SELECT email FROM orders LIMIT 1", headers=acme
    )
    assert "@" not in hashed.json()["data"][0]["email"]
    refused = {
        "DELETE FROM orders": "only a SELECT",
        'SELECT * FROM "prices-internal"': "prices-internal",  # its route needs a scope
        "SELECT * FROM read_csv('/etc/passwd')": "read_csv",
        "SELECT * FROM '/etc/passwd'": "/etc/passwd",
        "SELECT getenv('HOME')": "getenv",
        "SELECT 1; SELECT 2": "one statement",
        "SELECT * FROM main.orders": "qualified",
        "SELECT * FROM range(100000)": "range",
    }
    for sql, named in refused.items():
        body = problem(served.client.post("/data/orders/sql", content=sql, headers=acme), 400)
        assert named in body["detail"], (sql, body)
    problem(served.client.get("/data/orders/sql", headers=acme), 405)


#: The read record of acme's page: email hashed (test_product_reads.py has the rest).
READ = "rows=2 unmasked= masked=email:hash via=page"


def test_reads_of_pii_columns_are_served_hops(served: Served) -> None:
    acme = served.key("acme")
    served.client.get("/data/orders?columns=id,amount", headers=acme)
    assert served.lineage.held == []  # no PII column served
    served.client.get("/data/orders?columns=id,email&limit=2&sort=id", headers=acme)
    hops = [(h[1], h[3], h[4], h[5], h[6]) for h in served.lineage.held]  # Held tuples
    assert hops == [
        ("1", "served", "DataProduct/orders", "Consumer/acme", "email"),
        ("3", "served", "DataProduct/orders", "Consumer/acme", "email"),
        ("orders", "read", "DataProduct/orders", "Consumer/acme", READ),
    ]
