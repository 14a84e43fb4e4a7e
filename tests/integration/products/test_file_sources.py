"""A data product over a Parquet file in an S3 bucket (moto's server, in this process), read
through the s3 connector into a temporary file DuckDB reads."""

from __future__ import annotations

import asyncio
import io
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from interlink.estate.loader import load_estate
from interlink.products.errors import SourceUnreadable
from interlink.products.filters import parse_filter
from interlink.products.query import ProductQuery
from interlink.products.service import Products


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def bucket() -> Iterator[tuple[str, str]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    name = f"il-prod-{uuid.uuid4().hex[:12]}"
    httpx.put(f"{endpoint}/{name}").raise_for_status()
    yield endpoint, name
    server.stop()


def test_a_parquet_file_in_a_bucket(
    tmp_path: Path, bucket: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, name = bucket
    monkeypatch.setenv("INTERLINK_SECRET_LAKE_KEY", "AKIAILTESTKEYID00001")
    monkeypatch.setenv("INTERLINK_SECRET_LAKE_SECRET", "il-test-secret-access-key-0b7e3f")
    out = io.BytesIO()
    pq.write_table(pa.table({"sku": ["AB-1", "CD-2"], "price": [1.5, 2.5]}), out)
    httpx.put(f"{endpoint}/{name}/in/prices.parquet", content=out.getvalue()).raise_for_status()
    httpx.put(f"{endpoint}/{name}/in/broken.parquet", content=b"PAR1 no").raise_for_status()
    (tmp_path / "estate").mkdir()
    (tmp_path / "estate" / "products.yaml").write_text(
        f"""\
apiVersion: interlink/v1
kind: System
metadata: {{name: lake}}
spec:
  domain: sales
  connector: s3
  connection:
    endpoint: {endpoint}
    bucket: {name}
    accessKeyId: ${{secret:lake-key}}
    secretAccessKey: ${{secret:lake-secret}}
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {{name: prices}}
spec:
  domain: sales
  source: {{system: lake, type: parquet, location: in/prices.parquet}}
  contract:
    columns:
      - {{name: sku, type: string}}
      - {{name: price, type: number}}
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {{name: broken}}
spec:
  domain: sales
  mode: materialised
  source: {{system: lake, type: parquet, location: in/broken.parquet}}
  contract:
    columns:
      - {{name: sku, type: string}}
"""
    )
    estate, findings = load_estate(tmp_path / "estate")
    assert not [f for f in findings if f.severity == "error"]
    products = Products(lambda: estate, tmp_path / "data")

    async def go() -> list[dict[str, object]]:
        try:
            with pytest.raises(SourceUnreadable, match=r"System/lake \(in/broken.parquet\)"):
                await products.refresh("broken")
            query = ProductQuery(filters=(parse_filter("price=gt:2"),))
            rows: list[dict[str, object]] = (
                await products.query("prices", query)
            ).table.to_pylist()
            return rows
        finally:
            await products.aclose()

    assert asyncio.run(go()) == [{"sku": "CD-2", "price": 2.5}]
