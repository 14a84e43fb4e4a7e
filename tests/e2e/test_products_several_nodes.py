"""A materialised product on two `interlink serve` nodes over one PostgreSQL store: the node
holding the product-refresh lease refreshes it into the Platform's shared ``products.dataDir``
and both nodes serve that file; a second refresh is seen by both. Each node records the reads
of the product's PII column in the one store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from interlink.testing.processes import InterlinkProcess, free_port, run_interlink

ESTATE = """\
apiVersion: interlink/v1
kind: Platform
metadata: {name: small}
spec:
  products: {dataDir: %(shared)s}
---
apiVersion: interlink/v1
kind: Team
metadata: {name: shop}
---
apiVersion: interlink/v1
kind: System
metadata: {name: drop, owner: shop}
spec: {domain: sales, connector: directory, connection: {root: %(files)s}}
---
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: people, owner: shop}
spec:
  domain: sales
  source: {system: drop, type: csv, location: people.csv}
  mode: materialised
  refresh: {schedule: '0 0 1 1 *'}
  contract:
    columns:
      - {name: id, type: integer}
      - {name: email, type: string, pii: true}
  masking:
    - {column: email, method: redact}
  subject: {type: person, key: id}
---
apiVersion: interlink/v1
kind: Route
metadata: {name: people, owner: shop}
spec: {match: {path: /data/people}, product: people}
"""


def ids(gateway: str) -> list[int] | None:
    """The ids a node serves; None while it has no data (503). Not a read of the PII column."""
    page = httpx.get(f"{gateway}/data/people?sort=id&columns=id", timeout=5)
    if page.status_code == 503:
        return None
    assert page.status_code == 200, page.text
    return [row["id"] for row in page.json()["data"]]


def served(gateways: list[str], expected: list[int], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while [ids(g) for g in gateways] != [expected] * len(gateways):
        assert time.monotonic() < deadline, [ids(g) for g in gateways]
        time.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_nodes_serve_the_file_one_of_them_refreshed(tmp_path: Path, pg_url: str) -> None:
    files, shared = tmp_path / "files", tmp_path / "shared"
    files.mkdir()
    (files / "people.csv").write_text("id,email\n1,a@x.io\n2,b@x.io\n")
    nodes: list[InterlinkProcess] = []
    gateways = []
    try:
        for name in ("a", "b"):  # each node its own estate copy and own .interlink
            root = tmp_path / name
            root.mkdir()
            text = ESTATE % {"shared": shared, "files": files}
            (root / "estate.yaml").write_text(text, encoding="utf-8")
            admin = f"127.0.0.1:{free_port()}"
            args = ["serve", str(root), "--store-url", pg_url, "--admin-listen", admin]
            proc = InterlinkProcess(args).start()
            nodes.append(proc)
            gateways.append("http://" + proc.wait_for(r"gateway on http://(\S+)").group(1))
        served(gateways, [1, 2])
        assert sorted(p.name for p in (shared / "people").iterdir()) == ["data.parquet"]
        assert not (tmp_path / "a" / ".interlink" / "products").exists()
        assert not (tmp_path / "b" / ".interlink" / "products").exists()
        # A refresh by hand (from either estate) writes the shared file: both serve it.
        (files / "people.csv").write_text("id,email\n1,a@x.io\n2,b@x.io\n3,c@x.io\n")
        refreshed = run_interlink(
            [
                "products",
                "refresh",
                "people",
                "--estate",
                str(tmp_path / "b"),
                "--store-url",
                pg_url,
            ]
        )
        assert refreshed.returncode == 0, refreshed.stderr
        served(gateways, [1, 2, 3])
        # One read of the PII column through each node: one row, then two.
        for gateway, limit in zip(gateways, (1, 2), strict=True):
            page = httpx.get(f"{gateway}/data/people?limit={limit}", timeout=5)
            assert page.json()["data"][0]["email"] == "***"
    finally:
        for proc in nodes:  # each flushes what it holds as it stops
            assert proc.stop() == 0, proc.output
    where = ["--estate", str(tmp_path / "a"), "--store-url", pg_url]
    trace = run_interlink(["lineage", "trace", "DataProduct", "people", "--format", "json", *where])
    assert trace.returncode == 0, trace.stderr
    reads = sorted((h["to"], h["read"]["rows"]) for h in json.loads(trace.stdout)["hops"])
    assert reads == [("Route/people", 1), ("Route/people", 2)]
