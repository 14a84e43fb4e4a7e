"""`interlink flows test` mocks query and write steps by name: the mock's body is the rows (or
the count written), an error a transient failure retried under the step's policy."""

from __future__ import annotations

from pathlib import Path

from interlink.estate.flow_tests import flow_test_files, read_test_file
from interlink.estate.loader import load_estate
from interlink.flows.harness import CaseResult, run_files

ESTATE = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: ops}
---
apiVersion: interlink/v1
kind: System
metadata: {name: shop, owner: ops}
spec:
  domain: sales
  connector: postgresql
  connection: {host: 127.0.0.1, database: shop, user: app, password: "${secret:shop-pw}"}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: restock, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - name: low
      type: query
      system: shop
      sql: SELECT sku, qty FROM stock WHERE qty < :least
      params: "{'least': least}"
      into: low
      retry: {attempts: 3, initial: 1s}
    - name: order
      type: write
      system: shop
      table: purchase_orders
      rows: "low.{'sku': sku, 'qty': 100 - qty}"
"""

TESTS = """\
flow: restock
cases:
  - name: orders what runs low
    input: {least: 10}
    mocks:
      low: {body: [{sku: a, qty: 3}, {sku: b, qty: 9}]}
      order: {body: 2}
    expect:
      status: completed
      output: {low: [{sku: a}, {sku: b}]}
      calls:
        low: {method: QUERY, body: {least: 10}}
        order: {body: [{sku: a, qty: 97}, {sku: b, qty: 91}]}
  - name: a dropped connection is retried
    input: {least: 10}
    mocks:
      low: [{error: connection}, {body: []}]
      order: {body: 0}
    expect:
      status: completed
      calls: {low: {times: 2}}
  - name: a refused statement is not
    input: {least: 10}
    mocks:
      low: {status: 500}
    expect:
      status: failed
      failedStep: low
      error: the query failed
      calls: {low: {times: 1}}
"""


def _run(root: Path, tests: str) -> list[CaseResult]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "estate.yaml").write_text(ESTATE, encoding="utf-8")
    (root / "restock.test.yaml").write_text(tests, encoding="utf-8")
    estate, findings = load_estate(root)
    assert not findings
    loaded = []
    for path in flow_test_files(root):
        test, problems = read_test_file(path, estate)
        assert test is not None, problems
        loaded.append(test)
    return run_files(estate, loaded)


def test_query_and_write_steps_are_mocked(tmp_path: Path) -> None:
    results = _run(tmp_path, TESTS)
    assert [(r.name, r.passed) for r in results] == [
        ("orders what runs low", True),
        ("a dropped connection is retried", True),
        ("a refused statement is not", True),
    ], [f.message for r in results for f in r.failures]


def test_an_unmocked_query_fails_the_case_and_says_which(tmp_path: Path) -> None:
    tests = "cases:\n  - name: no mocks\n    input: {least: 1}\n    expect: {status: completed}\n"
    (result,) = _run(tmp_path, tests)
    assert not result.passed
    assert (
        "step low called System/shop (QUERY SELECT sku, qty FROM stock"
        in result.failures[0].message
    )


FILE_STEP = """\
---
apiVersion: interlink/v1
kind: System
metadata: {name: drop, owner: ops}
spec:
  domain: sales
  connector: directory
  connection: {root: /srv/drop}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: export, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - name: save
      type: file
      system: drop
      path: "'out/' & tag & '.csv'"
      format: csv
      rows: items
"""


def test_a_file_step_is_mocked_and_its_text_seen(tmp_path: Path) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "estate.yaml").write_text(ESTATE + FILE_STEP, encoding="utf-8")
    (tmp_path / "export.test.yaml").write_text(
        """\
flow: export
cases:
  - name: writes the csv
    input: {tag: may, items: [{id: 1, qty: 2}]}
    mocks:
      save: {}
    expect:
      status: completed
      calls:
        save: {method: FILE, body: "id,qty\\n1,2\\n"}
""",
        encoding="utf-8",
    )
    estate, findings = load_estate(tmp_path)
    assert not findings
    test, problems = read_test_file(tmp_path / "export.test.yaml", estate)
    assert test is not None, problems
    (result,) = run_files(estate, [test])
    assert result.passed, [f.message for f in result.failures]
