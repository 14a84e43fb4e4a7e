"""What `check` says of data products, ODCS contract files, and the CLI over them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from interlink.cli.main import main
from interlink.connectors.registry import registry
from interlink.contracts.odcs_export import odcs_document
from interlink.estate.check import check_estate
from interlink.estate.odcs import OdcsError, from_document, validate
from tests.unit.products.helpers import load, make_estate, orders_db, orders_product

ROWS = [
    (1, "open", "ann@example.org", 10.0, "2026-01-01 10:00:00"),
    (2, "shipped", "bob@example.org", 5.5, "2026-01-02 10:00:00"),
]


def _findings(estate_dir: Path, prefix: str = "PRODUCT_") -> list[str]:
    result = check_estate(estate_dir, connectors=registry())
    return [f.render(result.estate.root) for f in result.findings if f.code.startswith(prefix)]


def test_a_clean_product_has_no_finding(tmp_path: Path) -> None:
    assert _findings(make_estate(tmp_path, orders_product())) == []


def test_a_source_its_system_cannot_read(tmp_path: Path) -> None:
    text = orders_product().replace("system: shop, type: sql", "system: drop, type: sql")
    text = text.replace("location: orders}", "location: 'orders; drop'}")
    found = _findings(make_estate(tmp_path, text))
    assert found == [
        "estate.yaml:27:20: error: DataProduct/orders: a sql source needs a System with a sql "
        "connector; System/drop has connector directory (sql: postgresql, mariadb or sqlite; "
        "files: directory, sftp or s3)",
        "estate.yaml:27:47: error: DataProduct/orders: a sql source's location is a table name "
        "(letters, digits, _; optionally schema.table), not 'orders; drop' (give a query for "
        "anything else)",
    ]


def test_an_http_source_needs_a_base_url_and_a_path_under_it(tmp_path: Path) -> None:
    text = orders_product().replace(
        "system: shop, type: sql, location: orders}", "system: drop, type: http, location: a/../b}"
    )
    found = _findings(make_estate(tmp_path, text))
    assert found == [
        "estate.yaml:27:20: error: DataProduct/orders: an http source needs a System with a "
        "baseUrl; System/drop has none",
        "estate.yaml:27:48: error: DataProduct/orders: an http source's location is a path "
        "under the System's baseUrl (starting with /, no . or .. segments), not 'a/../b'",
    ]


def test_a_refresh_on_an_event_names_a_declared_event(tmp_path: Path) -> None:
    text = orders_product("materialised", refresh="  refresh: {event: order.placd}")
    result = check_estate(make_estate(tmp_path, text), connectors=registry())
    (found,) = [f for f in result.findings if f.code == "REF_UNKNOWN"]
    assert found.render(result.estate.root).startswith(
        "estate.yaml:30:20: error: DataProduct/orders refers to Event/order.placd, which does "
        "not exist"
    )
    text = orders_product("materialised", refresh="  refresh: {cursor: id}")
    result = check_estate(make_estate(tmp_path, text), connectors=registry())
    assert "a refresh names a schedule, an event, or both" in " ".join(
        f.message for f in result.findings
    )


def test_columns_named_outside_the_contract_and_rules_that_do_not_fit(tmp_path: Path) -> None:
    text = orders_product(
        "materialised", refresh="  refresh: {schedule: '0 * * * *', cursor: updated}"
    )
    text = text.replace("{column: email, method: hash}", "{column: mail, method: hash}")
    text = text.replace("allowed: [open, shipped]", "allowed: [open, 3], minimum: 1")
    found = _findings(make_estate(tmp_path, text))
    assert found == [
        "estate.yaml:30:44: error: DataProduct/orders: the refresh cursor names column "
        "'updated', which the contract does not list",
        "estate.yaml:35:47: error: DataProduct/orders: column 'status': allowed value 3 is not "
        "a string",
        "estate.yaml:35:67: error: DataProduct/orders: column 'status': minimum applies to "
        "numbers, dates and timestamps, not string",
        "estate.yaml:40:16: error: DataProduct/orders: a mask names column 'mail', which the "
        "contract does not list (did you mean 'email'?)",
    ]


def test_model_errors_are_said_at_the_field(tmp_path: Path) -> None:
    text = orders_product(refresh="  refresh: {schedule: 'every day'}")
    (error,) = check_estate(make_estate(tmp_path, text)).errors
    assert error.render(tmp_path / "estate") == (
        "estate.yaml:30:23: error: spec.refresh.schedule: not a cron expression (Wrong number of "
        "fields): 'every day'"
    )
    text = orders_product(refresh="  refresh: {schedule: '0 * * * *'}")
    (error,) = check_estate(make_estate(tmp_path, text)).errors
    assert "refresh applies to a materialised product only" in error.message


ODCS = """\
apiVersion: v3.0.2
kind: DataContract
id: sales.orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - {name: id, logicalType: integer, required: true, unique: true}
      - {name: status, logicalType: string, enum: [{value: open}, {value: shipped}]}
      - {name: email, logicalType: string, classification: pii}
      - name: amount
        logicalType: number
        logicalTypeOptions: {minimum: 0}
      - {name: placed_at, logicalType: timestamp}
    quality:
      - {type: library, metric: rowCount, mustBeBetween: [1, 100]}
"""


def test_an_odcs_file_gives_the_contract(tmp_path: Path) -> None:
    estate_dir = make_estate(tmp_path, orders_product())
    (estate_dir / "orders.odcs.yaml").write_text(ODCS)
    text = (estate_dir / "estate.yaml").read_text()
    head, _, _ = text.partition("  contract:\n")
    masking = text[text.index("  masking:") :]
    (estate_dir / "estate.yaml").write_text(
        head + "  contract: {file: orders.odcs.yaml}\n" + masking
    )
    assert _findings(estate_dir) == []
    estate = load(estate_dir)
    document = odcs_document(estate, "orders")
    contract = from_document(document)
    assert [c.name for c in contract.columns] == ["id", "status", "email", "amount", "placed_at"]
    assert contract.columns[1].allowed == ["open", "shipped"]
    assert contract.columns[2].pii
    assert contract.columns[3].minimum == 0
    assert (contract.row_count.min, contract.row_count.max) == (1, 100)  # type: ignore[union-attr]

    # A contract file the ODCS schema refuses is said at the product's contract.file.
    (estate_dir / "orders.odcs.yaml").write_text(ODCS.replace("version: 1.0.0\n", ""))
    (found,) = _findings(estate_dir)
    assert found.endswith(
        'error: DataProduct/orders: not a valid ODCS v3 contract at (top): "version" is a '
        "required property"
    )


def test_export_writes_a_contract_the_schema_accepts(tmp_path: Path) -> None:
    estate = load(make_estate(tmp_path, orders_product()))
    document = odcs_document(estate, "orders")
    validate(document)
    assert document["schema"][0]["quality"] == [
        {"type": "library", "metric": "rowCount", "unit": "rows", "mustBeGreaterOrEqualTo": 1}
    ]
    with pytest.raises(OdcsError, match="one schema object"):
        from_document({**document, "schema": []})


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_the_cli_lists_refreshes_and_queries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders_db(tmp_path, ROWS)
    estate_dir = make_estate(tmp_path, orders_product("materialised"))
    where = ("--estate", str(estate_dir))
    code, out, _ = _cli(capsys, "products", "refresh", "orders", *where)
    assert (code, out) == (0, "DataProduct/orders: refreshed: 2 row(s), 2 read\n")
    code, out, _ = _cli(capsys, "audit", "list", "--action", "product.refresh", "--json", *where)
    [entry] = [json.loads(line) for line in out.splitlines()]
    assert (entry["target"], entry["who"]["name"], entry["result"]) == (
        "DataProduct/orders",
        "cli-local",
        "ok",
    )
    code, out, _ = _cli(capsys, "products", "list", *where)
    assert code == 0
    assert out.splitlines()[1].startswith("orders  materialised  sql shop/orders  ok ")
    code, out, _ = _cli(
        capsys,
        "products",
        "query",
        "orders",
        *where,
        "--filter",
        "status=shipped",
        "--columns",
        "id,status",
    )
    assert (code, out.splitlines()) == (0, ["id  status", "2   shipped"])
    code, out, _ = _cli(capsys, "products", "query", "orders", *where, "--limit", "1", "--json")
    assert code == 0
    assert '"next": "eyJvIjoxfQ"' in out
    code, out, _ = _cli(capsys, "export", "odcs", "orders", str(estate_dir))
    assert code == 0
    assert yaml.safe_load(out)["schema"][0]["name"] == "orders"


def test_the_cli_says_a_failed_refresh_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders_db(tmp_path, [*ROWS, (3, "lost", "c@x.io", 1.0, "2026-01-03 10:00:00")])
    estate_dir = make_estate(tmp_path, orders_product("materialised"))
    code, out, err = _cli(capsys, "products", "refresh", "orders", "--estate", str(estate_dir))
    assert (code, out) == (2, "")
    assert err == (
        "interlink: error: DataProduct/orders: contract broken: status: 1 row(s) hold a value "
        "not allowed\n"
    )
    code, out, _ = _cli(capsys, "products", "history", "orders", "--estate", str(estate_dir))
    assert code == 0
    assert "failed  DataProduct/orders: contract broken" in out
    code, _, err = _cli(capsys, "products", "query", "nope", "--estate", str(estate_dir))
    assert (code, err) == (2, "interlink: error: no DataProduct 'nope' in the estate\n")


def test_row_filters_name_contract_columns_and_consumers(tmp_path: Path) -> None:
    text = orders_product(extra="  rowFilters:\n    - {consumer: acme, where: {state: open}}\n")
    found = _findings(make_estate(tmp_path, text))
    assert found == [
        "estate.yaml:42:18: error: DataProduct/orders: a row filter names Consumer/acme, which "
        "does not exist",
        "estate.yaml:42:39: error: DataProduct/orders: the row filter of Consumer/acme names "
        "column 'state', which the contract does not list (did you mean 'status'?)",
    ]


def test_a_route_serves_a_product_or_does_something_else() -> None:
    from pydantic import ValidationError

    from interlink.estate.kinds.gateway import RouteSpec

    assert RouteSpec.model_validate({"match": {"path": "/data/x"}, "product": "x"}).product == "x"
    with pytest.raises(ValidationError, match="serves a product, starts a flow"):
        RouteSpec.model_validate(
            {"match": {"path": "/x"}, "product": "x", "upstreams": [{"system": "crm"}]}
        )


def test_row_filter_comparisons_fit_their_columns(tmp_path: Path) -> None:
    consumer = "apiVersion: interlink/v1\nkind: Consumer\nmetadata: {name: acme, owner: data}\n"
    consumer += "spec: {type: partner, plan: p}\n---\napiVersion: interlink/v1\nkind: Plan\n"
    consumer += "metadata: {name: p, owner: data}\nspec: {limits: [{requests: 1, per: 1s}]}\n---\n"
    text = orders_product(
        extra="  rowFilters:\n"
        "    - consumer: acme\n"
        "      where:\n"
        "        amount: {ge: 10, lt: high}\n"
        "        status: {in: [open, 3]}\n"
        "        placed_at: {gt: '2026-01-01'}\n"
        "        id: {notIn: [1, 2]}\n"
    )
    found = _findings(make_estate(tmp_path, consumer + text))
    assert found == [
        "estate.yaml:54:30: error: DataProduct/orders: the row filter of Consumer/acme on "
        "'amount': 'high' is not a number",
        "estate.yaml:55:22: error: DataProduct/orders: the row filter of Consumer/acme on "
        "'status': 3 is not a string",
    ]
    bad = orders_product(extra="  rowFilters:\n    - {consumer: acme, where: {id: {}}}\n")
    found = _findings(make_estate(tmp_path / "b", consumer + bad), "")
    assert any("a condition compares with eq" in f for f in found), found


ROUTE = """\
---
apiVersion: interlink/v1
kind: Route
metadata: {name: orders-data, owner: data}
spec: {match: {path: /data/orders}, product: orders}
"""


def test_a_served_product_with_pii_columns_declares_a_subject(tmp_path: Path) -> None:
    # Not served: only the read records trace it, as for any product.
    assert _findings(make_estate(tmp_path, orders_product())) == []
    found = _findings(make_estate(tmp_path, orders_product() + ROUTE))
    assert found == [
        "estate.yaml:36:42: error: DataProduct/orders serves PII column(s) email through "
        "Route/orders-data and declares no subject: its rows served could not be traced per "
        "data subject (add subject: {type: TYPE, key: id}, TYPE whose data it is (customer))"
    ]
    subject = orders_product(extra="  subject: {type: customer, key: id}\n") + ROUTE
    assert _findings(make_estate(tmp_path, subject)) == []
    no_pii = orders_product().replace("pii: true", "pii: false") + ROUTE
    assert _findings(make_estate(tmp_path, no_pii)) == []
