"""`interlink products query` records its reads of PII columns in the store's lineage (SQLite
and PostgreSQL) before it shows the rows, and `interlink lineage trace DataProduct NAME`
answers them, for a product with no ``subject`` too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interlink.cli.main import main
from interlink.store.audit import local_address
from tests.unit.products.helpers import make_estate, orders_db, orders_product

ROWS = [
    (1, "open", "ann@example.org", 10.0, "2026-01-01 10:00:00"),
    (2, "shipped", "bob@example.org", 5.5, "2026-01-02 10:00:00"),
]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _reads(capsys: pytest.CaptureFixture[str], *where: str) -> list[dict[str, Any]]:
    code, out, err = _cli(
        capsys, "lineage", "trace", "DataProduct", "orders", "--format", "json", *where
    )
    assert code == 0, err
    return [{"to": h["to"], **h["read"]} for h in json.loads(out)["hops"]]


def test_a_cli_query_of_a_pii_column_is_recorded(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    orders_db(tmp_path, ROWS)
    # The product has a PII column (email, hashed) and no subject: its reads are kept anyway.
    estate_dir = make_estate(tmp_path, orders_product())
    where = ("--estate", str(estate_dir), "--store-url", store_url)
    code, out, err = _cli(capsys, "products", "query", "orders", *where, "--columns", "id,amount")
    assert code == 0, err
    assert _reads(capsys, *where) == []  # no PII column read
    code, out, err = _cli(capsys, "products", "query", "orders", *where, "--columns", "id,email")
    assert code == 0, err
    assert "ann@example.org" not in out  # the product's own mask
    reader = f"cli/{local_address()}"
    assert _reads(capsys, *where) == [
        {"to": reader, "rows": 2, "unmasked": [], "masked": {"email": "hash"}, "via": "cli"}
    ]
    code, out, _ = _cli(capsys, "lineage", "trace", "DataProduct", "orders", *where)
    assert out.splitlines()[0] == "DataProduct orders: 1 hop(s)"
    assert "read        DataProduct/orders -> " + reader in out
    assert "(rows=2 unmasked= masked=email:hash via=cli)" in out
