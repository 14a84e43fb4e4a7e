"""A product route through `interlink serve --workers 2`: each worker reads the node's products
itself (a materialised product's file refreshed by the main process), masked per consumer, and
records its reads: the inventory's observed connections and the served lineage hops."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pyarrow as pa

from interlink.store import open_store
from interlink.testing.processes import InterlinkProcess, free_port

ESTATE = """\
apiVersion: interlink/v1
kind: Platform
metadata: {name: small}
spec: {}
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


def test_workers_serve_a_materialised_product(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "people.csv").write_text("id,email\n1,a@x.io\n2,b@x.io\n3,c@x.io\n")
    root = tmp_path / "estate"
    root.mkdir()
    (root / "estate.yaml").write_text(ESTATE % {"files": files}, encoding="utf-8")
    admin = f"127.0.0.1:{free_port()}"
    proc = InterlinkProcess(["serve", str(root), "--admin-listen", admin, "--workers", "2"]).start()
    try:
        gateway = "http://" + proc.wait_for(r"gateway on http://(\S+)").group(1)
        with httpx.Client(base_url=gateway) as client:
            # A product never refreshed is refreshed as serve starts: 503 until then.
            deadline = time.monotonic() + 20
            page = client.get("/data/people?sort=id&limit=2")
            while page.status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.05)
                page = client.get("/data/people?sort=id&limit=2")
            pages = [client.get("/data/people?sort=id&limit=2") for _ in range(4)]
            media = "application/vnd.apache.arrow.stream"
            arrow = client.get("/data/people?sort=id", headers={"accept": media})
    finally:
        assert proc.stop() == 0, proc.output
    for answer in (page, *pages):
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == [{"id": 1, "email": "***"}, {"id": 2, "email": "***"}]
        assert answer.json()["next"]
    table = pa.ipc.open_stream(io.BytesIO(arrow.content)).read_all()
    assert table.column("id").to_pylist() == [1, 2, 3]
    with open_store(f"sqlite:///{root / '.interlink' / 'interlink.db'}") as store:
        reads = [c for c in store.connections.list() if c.system == "DataProduct/people"]
        assert sum(c.count for c in reads) == 6, reads  # each answered page, from the workers
        assert {(c.consumer, c.route) for c in reads} == {("", "people")}
        hops = store.lineage.trace("person", "1")
        reads_of_people = store.lineage.trace("DataProduct", "people")
    # The email is masked, yet a page holding the PII column is a served hop of each row.
    served = [(h.kind, h.actor, h.target, h.detail) for h in hops]
    assert served == [("served", "DataProduct/people", "Route/people", "email")] * 6
    # And each answer is a read of the PII column: five pages of two rows, the Arrow one of
    # three.
    details = sorted(h.detail for h in reads_of_people)
    assert details == ["rows=2 unmasked= masked=email:redact via=page"] * 5 + [
        "rows=3 unmasked= masked=email:redact via=page"
    ]
