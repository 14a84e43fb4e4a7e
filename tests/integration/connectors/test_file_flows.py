"""File steps run by the real engine into a directory, in every format, read back with the
standard library and pyarrow; and `check` on file steps and watch triggers."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from interlink.connectors.registry import registry
from interlink.estate.check import check_estate
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.flows.calls import system_targets
from interlink.flows.data import ConnectorTransport, system_lookup
from interlink.flows.engine import FlowEngine
from interlink.flows.retry import RetryPolicy
from interlink.flows.runs import FlowRuns
from interlink.store import Store, open_store

FAST = RetryPolicy(attempts=2, initial=0.01, cap=0.01)

ESTATE = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: data}
---
apiVersion: interlink/v1
kind: System
metadata: {name: exchange, owner: data}
spec:
  domain: data
  connector: directory
  connection: {root: ROOT}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: export, owner: data}
spec:
  trigger: {manual: true}
  steps:
    - name: csv
      type: file
      system: exchange
      path: "'out/orders-' & tag & '.csv'"
      format: csv
      rows: orders
    - name: jsonl
      type: file
      system: exchange
      path: "'out/orders.jsonl'"
      format: jsonl
      rows: orders
    - name: json
      type: file
      system: exchange
      path: "'out/orders.json'"
      format: json
      rows: orders
    - name: parquet
      type: file
      system: exchange
      path: "'out/orders.parquet'"
      format: parquet
      rows: "orders.{'id': id, 'total': total}"
    - name: note
      type: file
      system: exchange
      path: "'out/README.txt'"
      content: "'Orders of ' & tag"
"""

ORDERS: list[dict[str, Any]] = [
    {"id": 1, "total": 9.5, "customer": "ada"},
    {"id": 2, "total": 3.0, "note": 'a, "quoted" note', "tags": ["x"], "paid": True},
    {"id": 3, "total": 1.25, "customer": None},
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        opened.migrate()
        yield opened


def _check(root: Path, text: str) -> Any:
    root.mkdir(exist_ok=True)
    (root / "estate.yaml").write_text(text, encoding="utf-8")
    return check_estate(root, connectors=registry())


def _run(tmp_path: Path, store: Store, text: str, message: Any) -> Any:
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    result = _check(tmp_path / "estate", text.replace("ROOT", str(files)))
    assert result.ok, [f.render(tmp_path) for f in result.errors]
    estate = result.estate

    def spec(name: str) -> FlowSpec:
        item = estate.get("Flow", name)
        assert item is not None
        assert isinstance(item.obj, Flow)
        return item.obj.spec

    async def go() -> Any:
        engine = FlowEngine(
            FlowRuns(store.db),
            spec,
            system_targets(estate),
            data=ConnectorTransport(system_lookup(estate)),
            retry=FAST,
        )
        try:
            return await engine.start_and_run("export", message)
        finally:
            await engine.aclose()

    return asyncio.run(go())


def test_a_flow_writes_each_format(tmp_path: Path, store: Store) -> None:
    run = _run(tmp_path, store, ESTATE, {"tag": "2026-12", "orders": ORDERS})
    assert run.status == "completed", run.error
    out = tmp_path / "files" / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "README.txt",
        "orders-2026-12.csv",
        "orders.json",
        "orders.jsonl",
        "orders.parquet",
    ]
    text = (out / "orders-2026-12.csv").read_text()
    assert text.splitlines()[0] == "id,total,customer,note,tags,paid"  # first seen order
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[1] == {
        "id": "2",
        "total": "3.0",
        "customer": "",
        "note": 'a, "quoted" note',
        "tags": '["x"]',
        "paid": "true",
    }
    assert rows[2]["customer"] == ""
    lines = (out / "orders.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == ORDERS
    assert json.loads((out / "orders.json").read_text()) == ORDERS
    table = pq.read_table(out / "orders.parquet")
    assert table.to_pylist() == [{"id": o["id"], "total": o["total"]} for o in ORDERS]
    assert (out / "README.txt").read_text() == "Orders of 2026-12"
    assert run.context["steps"]["csv"] == {
        "path": "out/orders-2026-12.csv",
        "format": "csv",
        "rows": 3,
        "bytes": len(text.encode()),
    }
    assert run.context["steps"]["note"]["rows"] is None


def test_rows_that_make_no_parquet_table_fail_the_step_once(tmp_path: Path, store: Store) -> None:
    mixed = [{"id": 1, "total": 2.0}, {"id": "two", "total": 3.0}]
    run = _run(tmp_path, store, ESTATE, {"tag": "x", "orders": mixed})
    assert run.status == "failed"
    assert "parquet: the rows do not make a Parquet table" in (run.error or "")
    (record,) = [s for s in FlowRuns(store.db).steps(run.id) if s.name == "parquet"]
    assert record.attempts == 1


def test_a_path_out_of_the_root_fails_naming_the_system(tmp_path: Path, store: Store) -> None:
    text = ESTATE.replace("\"'out/orders.jsonl'\"", "\"'../escape.jsonl'\"")
    run = _run(tmp_path, store, text, {"tag": "x", "orders": ORDERS})
    assert run.status == "failed"
    assert "System/exchange ('../escape.jsonl'): a file path has no empty" in (run.error or "")
    assert not (tmp_path / "escape.jsonl").exists()


SQL_SYSTEM = """\
apiVersion: interlink/v1
kind: System
metadata: {name: shop, owner: data}
spec:
  domain: data
  connector: sqlite
  connection: {path: /tmp/x.db}
"""


def test_check_wants_a_files_system_and_a_quoted_fixed_path(tmp_path: Path) -> None:
    text = (
        ESTATE.replace("ROOT", str(tmp_path)).replace(
            "system: exchange\n      path: \"'out/orders.jsonl'\"",
            "system: shop\n      path: out/orders.jsonl",
        )
        + "---\n"
        + SQL_SYSTEM
        + """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: inbox, owner: data}
spec:
  trigger:
    watch: {system: shop, prefix: inbox/}
  steps:
    - {name: noop, type: map, expression: "$"}
"""
    )
    result = _check(tmp_path / "estate", text)
    errors = [f.render(tmp_path / "estate") for f in result.errors]
    assert errors == [
        "estate.yaml:27:15: error: Flow/export: step 'jsonl' (file) needs a System with a "
        "files connector; System/shop has connector sqlite (give the System connector: "
        "directory or sftp, and its connection)",
        "estate.yaml:28:13: error: Flow/export: step 'jsonl' (file): path is JSONata, and "
        "'out/orders.jsonl' reads as an expression, not a path (quote a fixed path: "
        "\"'out/orders.jsonl'\")",
        "estate.yaml:62:21: error: Flow/inbox: trigger.watch lists files of System/shop, "
        "which has connector sqlite: a System with a files connector is watched (give the "
        "System connector: directory or sftp, and its connection)",
    ]
