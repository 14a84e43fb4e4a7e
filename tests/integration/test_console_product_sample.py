"""The data products page's masked sample and quality results, over the retail example with
its CRM database: the sample is read through the consumers' query path, masked as each
contract says whatever the token, recorded in the lineage as the token's read; a token without
``products.sample`` is refused; a product that cannot be read is a message in the panel."""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlink.admin.app import create_app
from interlink.examples.crm import CUSTOMERS, CrmData
from interlink.observe.lineage.reads import parse_detail
from interlink.products.history import RefreshHistory, Violation
from interlink.products.service import Products
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.testing.processes import free_port
from tests.integration.test_console import Console

with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

HTMX = {"HX-Request": "true"}


class Estate(Console):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        tokens = runtime.store.tokens
        self.sales, _ = tokens.create("operator", "sales-ops", team="sales")
        self.finance, _ = tokens.create("operator", "finance-ops", team="finance")

    def reads(self, product: str) -> list[tuple[str, dict[str, object]]]:
        hops = self.runtime.store.lineage.trace("DataProduct", product)
        found = [(h.target, parse_detail(h.detail)) for h in hops if h.kind == "read"]
        return [(target, detail) for target, detail in found if detail is not None]


@pytest.fixture
def estate(retail_dir: Path, store_url: str, tmp_path: Path) -> Iterator[Estate]:
    database = tmp_path / "crm" / "crm.db"
    CrmData(database).create()
    systems = retail_dir / "systems" / "sales.yaml"
    text = systems.read_text(encoding="utf-8")
    assert "path: .crm/crm.db" in text
    assert "http://127.0.0.1:9101" in text
    text = text.replace("path: .crm/crm.db", f"path: {database}")
    # The CRM's address list answers nowhere: customer-addresses cannot be read.
    text = text.replace("http://127.0.0.1:9101", f"http://127.0.0.1:{free_port()}")
    systems.write_text(text, encoding="utf-8")
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    history = RefreshHistory(runtime.store.db)
    runtime.products = Products(lambda: runtime.snapshot.estate, tmp_path / "data", history=history)
    yield Estate(runtime)
    runtime.close()


def _partial(text: str) -> str:
    return "*" * (len(text) - 4) + text[-4:] if len(text) > 4 else "*" * len(text)


def _section(page: str, name: str) -> str:
    return page.split(f'id="product-{name}"')[1].split("</section>", maxsplit=1)[0]


def test_the_sample_is_masked_as_the_contract_says_and_recorded(estate: Estate) -> None:
    client = estate.sign_in(estate.sales)
    page = client.get("/console/products")
    assert page.status_code == 200, page.text
    section = _section(page.text, "crm-customers")
    assert "Show a masked sample" in section
    assert 'hx-get="/console/products/crm-customers/sample"' in section
    assert estate.reads("crm-customers") == []  # nothing read by showing the page

    answer = client.get("/console/products/crm-customers/sample?rows=10", headers=HTMX)
    assert answer.status_code == 200, answer.text
    assert "<html" not in answer.text  # the panel only
    assert "whatever your token's role" in answer.text
    for _, name, email, tier, _ in CUSTOMERS:
        assert f"<td>{_partial(name)}</td>" in answer.text
        assert f"<td>{hashlib.sha256(email.encode()).hexdigest()}</td>" in answer.text
        assert f"<td>{tier}</td>" in answer.text
        assert name not in answer.text
        assert email not in answer.text
    reads = estate.reads("crm-customers")
    assert reads == [
        (
            "token/sales-ops",
            {
                "rows": len(CUSTOMERS),
                "unmasked": [],
                "masked": {"name": "partial", "email": "hash"},
                "via": "console",
            },
        )
    ]


def test_a_platform_admin_and_the_api_get_the_same_masked_rows(estate: Estate) -> None:
    admin = estate.sign_in(estate.admin)
    answer = admin.get("/console/products/crm-customers/sample?rows=25")
    assert answer.status_code == 200, answer.text
    assert "<h1>A masked sample of crm-customers</h1>" in answer.text  # a page without htmx
    assert CUSTOMERS[0][1] not in answer.text

    api = TestClient(create_app(estate.runtime))
    bearer = {"Authorization": f"Bearer {estate.sales}"}
    got = api.get("/api/v1/products/crm-customers/sample?rows=2", headers=bearer)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["masked"] == {"name": "partial", "email": "hash"}
    assert body["more"] is True
    assert [row["name"] for row in body["rows"]] == [_partial(c[1]) for c in CUSTOMERS[:2]]
    assert body["rows"][0]["created_at"].startswith("2021-03-04T10:00:00")
    assert [(t, d["via"]) for t, d in estate.reads("crm-customers")] == [
        ("token/root", "console"),
        ("token/sales-ops", "api"),
    ]
    assert api.get("/api/v1/products/crm-customers/sample?rows=51", headers=bearer).status_code == (
        422
    )


def test_a_token_without_products_sample_is_refused(estate: Estate) -> None:
    viewer = estate.sign_in(estate.viewer)
    section = _section(viewer.get("/console/products").text, "crm-customers")
    assert "Show a masked sample" not in section
    assert "A masked sample needs <code>products.sample</code>" in section
    answer = viewer.get("/console/products/crm-customers/sample", headers=HTMX)
    assert answer.status_code == 403
    assert "this needs the operator role; the token has viewer" in answer.text
    assert "Traceback" not in answer.text

    other = estate.sign_in(estate.finance)
    assert "Show a masked sample" not in _section(other.get("/console/products").text, "orders")
    answer = other.get("/console/products/crm-customers/sample")
    assert answer.status_code == 403
    assert "owned by team sales" in answer.text
    assert estate.reads("crm-customers") == []


def test_a_product_that_cannot_be_read_is_a_message_in_the_panel(estate: Estate) -> None:
    client = estate.sign_in(estate.sales)
    answer = client.get("/console/products/customer-360/sample", headers=HTMX)
    assert answer.status_code == 503
    assert 'id="sample-customer-360-rows"' in answer.text
    assert "No sample of customer-360:" in answer.text
    assert "has not been refreshed yet" in answer.text

    answer = client.get("/console/products/customer-addresses/sample", headers=HTMX)
    assert answer.status_code == 502
    assert "No sample of customer-addresses:" in answer.text
    assert "unreachable" in answer.text
    assert "Traceback" not in answer.text
    assert client.get("/console/products/crm-customers/sample?rows=7").status_code == 400
    missing = client.get("/console/products/crm-customer/sample")
    assert missing.status_code == 404
    assert "did you mean" in missing.text
    assert estate.reads("customer-360") == estate.reads("customer-addresses") == []


def test_each_quality_rule_shows_its_last_outcome_and_the_data_its_age(estate: Estate) -> None:
    history = RefreshHistory(estate.runtime.store.db)
    now = estate.runtime.store.db.now()
    history.record("customer-360", started_at=now, finished_at=now, outcome="ok", rows_total=6)
    broken = [Violation("unique", "id", "2 value(s) repeated")]
    history.record(
        "customer-360", started_at=now, finished_at=now, outcome="failed", violations=broken
    )
    section = _section(estate.sign_in(estate.viewer).get("/console/products").text, "customer-360")
    rows = {
        re.sub(r"(<[^>]+>)+", "|", row)
        for row in section.split("Quality checks of customer-360")[1]
        .split("</table>")[0]
        .split("<tr>")
    }
    assert any("unique|id|no value repeated|failed|2 value(s) repeated" in r for r in rows), rows
    assert any("nullable|id|no null value|passed|—" in r for r in rows), rows
    assert any("rowCount|—|at least 1 rows|passed" in r for r in rows), rows
    assert any("minimum|orders|at least 0|" in r for r in rows), rows
    assert "the data served is" in section
    crm = _section(estate.sign_in(estate.viewer).get("/console/products").text, "crm-customers")
    assert "on each read" in crm
