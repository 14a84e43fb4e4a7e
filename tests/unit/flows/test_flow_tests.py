"""`interlink flows test`: test files' cases run on the real engine, mocks in place of HTTP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from interlink.cli.main import main
from interlink.estate.flow_tests import flow_test_files, read_test_file
from interlink.estate.loader import load_estate
from interlink.flows.harness import CaseResult, run_files

ESTATE = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: ops}
spec: {}
---
apiVersion: interlink/v1
kind: System
metadata: {name: erp, owner: ops}
spec: {domain: sales, baseUrl: "http://127.0.0.1:9"}
---
apiVersion: interlink/v1
kind: System
metadata: {name: billing, owner: ops}
spec: {domain: sales, baseUrl: "http://127.0.0.1:9"}
---
apiVersion: interlink/v1
kind: Event
metadata: {name: order.placed, owner: ops}
spec:
  system: erp
  schemas: [{version: 1, file: order.schema.json}]
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: order, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - name: reserve
      type: call
      system: erp
      path: /reserve
      compensate: {system: erp, path: /release}
    - name: charge
      type: call
      system: billing
      path: /charge
      body: '{"order": id, "amount": amount}'
      timeout: 5s
      retry: {attempts: 3, initial: 1h}
      compensate: {system: billing, path: '/refund/{id}'}
    - {name: ship, type: call, system: erp, path: '/ship/{id}'}
    - {name: announce, type: publish, event: order.placed, data: '{"id": id, "amount": amount}'}
    - {name: done, type: map, expression: '$merge([$, {"shipment": $steps.ship.tracking}])'}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: checkout, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - {name: cool-off, type: wait, for: 14d}
    - {name: place, type: flow, flow: order}
    - {name: receipt, type: map, expression: '{"receipt": $steps.place.shipment}'}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: resend, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - {name: place, type: flow, flow: order}
    - {name: ship, type: call, system: erp, path: /resend}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: guarded, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - name: reserve
      type: call
      system: erp
      path: /reserve
      compensate: {system: erp, path: /release}
    - {name: ship, type: call, system: erp, path: /ship}
  onError:
    - {name: alert, type: call, system: billing, path: /alert, body: '{"why": $error.message}'}
---
apiVersion: interlink/v1
kind: Api
metadata: {name: catalog, owner: ops}
spec: {system: erp, contract: catalog.yaml}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: batch, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - {name: due, type: wait, until: dueAt}
    - {name: price, type: enrich, from: {api: catalog, path: '/prices/{sku}'}, into: price}
    - {name: lines, type: split, items: 'lines'}
    - {name: book, type: call, system: erp, path: /book, body: '{"sku": sku}'}
"""

SCHEMA = {
    "type": "object",
    "required": ["id", "amount"],
    "properties": {"id": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
}

ORDER = {"id": "o-1", "amount": 30}

PASSING = """\
cases:
  - name: an order is reserved, charged, shipped and announced
    input: {id: o-1, amount: 30}
    mocks:
      reserve: {status: 201}
      charge: {body: {charged: 30}}
      ship: {body: {tracking: T-9}}
    expect:
      status: completed
      output: {id: o-1, shipment: T-9}
      calls:
        charge: {method: post, path: /charge, body: {order: o-1, amount: 30}, times: 1}
        ship: {path: /ship/o-1}
      publishes:
        - {event: order.placed, data: {id: o-1, amount: 30}}
      compensations: []

  - name: a flaky billing is tried again, its answers in turn
    input: {id: o-1, amount: 30}
    mocks:
      reserve: {}
      charge: [{status: 503}, {error: connection}, {status: 200}]
      ship: {body: {tracking: T-9}}
    expect:
      status: completed
      calls:
        charge: {times: 3}

  - name: shipping refused undoes the charge, then the reservation
    input: {id: o-2, amount: 5}
    mocks:
      reserve: {}
      reserve.compensate: {}
      charge: {}
      charge.compensate: {status: 204}
      ship: {status: 409, body: {detail: no stock}}
    expect:
      status: compensated
      failedStep: ship
      error: answered 409
      compensations: [charge, reserve]
      calls:
        charge.compensate: {method: POST, path: /refund/o-2}
      publishes: []

  - name: an answer slower than the timeout times every attempt out
    input: {id: o-3, amount: 5}
    mocks:
      reserve: {}
      reserve.compensate: {}
      charge: {delay: 6s, body: {}}
    expect:
      status: compensated
      failedStep: charge
      error: timeout of 5 s
      compensations: [reserve]
      calls:
        charge: {times: 3}
        ship: {times: 0}

  - name: data the event's schema refuses fails the publish step
    input: {id: o-4, amount: -1}
    mocks:
      reserve: {}
      reserve.compensate: {}
      charge: {}
      charge.compensate: {}
      ship: {body: {tracking: T-1}}
    expect:
      status: compensated
      failedStep: announce
      error: the bus refused order.placed
      publishes: []
"""

CHILD = """\
flow: checkout
cases:
  - name: after the cool-off the order flow runs as a child
    input: {id: o-5, amount: 12}
    mocks:
      order/reserve: {}
      charge: {}
      ship: {body: {tracking: T-5}}
    expect:
      status: completed
      output: {receipt: T-5}
      publishes: [{event: order.placed}]

  - name: a child that fails fails its parent
    input: {id: o-6, amount: 12}
    mocks:
      reserve: {}
      reserve.compensate: {}
      charge: {status: 402}
    expect:
      status: failed
      failedStep: order/charge
      compensations: [reserve]
"""


CATALOG = """\
openapi: 3.1.0
info: {title: catalog, version: "1.0"}
paths: {}
"""


def write(root: Path, tests: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "catalog.yaml").write_text(CATALOG, encoding="utf-8")
    (root / "estate.yaml").write_text(ESTATE, encoding="utf-8")
    (root / "order.schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    for name, text in tests.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def run(root: Path) -> list[CaseResult]:
    estate, findings = load_estate(root)
    assert not findings
    tests = []
    for path in flow_test_files(root):
        test, problems = read_test_file(path, estate)
        assert test is not None, problems
        tests.append(test)
    return run_files(estate, tests)


def interlink(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def line_of(text: str, needle: str, after: str = "") -> int:
    """The 1-based line of the first ``needle`` after the first ``after``."""
    start = text.index(after)
    return text[: text.index(needle, start)].count("\n") + 1


def test_every_case_passes_with_mocks_retries_delays_compensations_and_publishes(
    tmp_path: Path,
) -> None:
    results = run(write(tmp_path, {"order.test.yaml": PASSING}))
    assert [(r.name, r.status, r.failures) for r in results] == [
        ("an order is reserved, charged, shipped and announced", "completed", []),
        ("a flaky billing is tried again, its answers in turn", "completed", []),
        ("shipping refused undoes the charge, then the reservation", "compensated", []),
        ("an answer slower than the timeout times every attempt out", "compensated", []),
        ("data the event's schema refuses fails the publish step", "compensated", []),
    ]


def test_a_child_flow_runs_from_the_same_estate_and_waits_cost_nothing(tmp_path: Path) -> None:
    results = run(write(tmp_path, {"checkout.test.yaml": CHILD}))
    assert [(r.status, r.failures) for r in results] == [("completed", []), ("failed", [])]


def test_the_cli_prints_a_line_per_case_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write(tmp_path, {"order.test.yaml": PASSING, "checkout.test.yaml": CHILD})
    code, out, err = interlink(capsys, "flows", "test", str(root))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "ok    checkout.test.yaml: after the cool-off the order flow runs as a child"
    assert len(lines) == 8
    assert lines[-1] == "7 cases: 7 passed, 0 failed"


FAILING = """\
cases:
  - name: everything expected wrong
    input: {id: o-1, amount: 30}
    mocks:
      reserve: {}
      charge: {body: {charged: 30}}
      ship: {body: {tracking: T-9}}
    expect:
      status: compensated
      output:
        shipment: T-10
      error: no stock
      failedStep: ship
      publishes:
        - event: order.placed
          data: {id: o-1, amount: 31}
      calls:
        charge:
          body: {order: o-2}
        ship: {times: 2}
        reserve: [{path: /reserve}, {path: /reserve}]
      compensations: [reserve]
"""


def test_each_failed_expectation_is_reported_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write(tmp_path, {"order.test.yaml": FAILING})
    code, out, _ = interlink(capsys, "flows", "test", str(root))
    assert code == 1
    case = "order.test.yaml:{}: case 'everything expected wrong': "
    expected = [
        "FAIL  order.test.yaml: everything expected wrong",
        case.format(line_of(FAILING, "compensated")) + "expected status compensated, got completed",
        case.format(line_of(FAILING, "T-10")) + 'output.shipment: expected "T-10", got "T-9"',
        case.format(line_of(FAILING, "no stock"))
        + "expected an error containing 'no stock', got no error",
        case.format(line_of(FAILING, "ship", after="failedStep"))
        + "expected step ship to fail, got no step failed",
        case.format(line_of(FAILING, "31")) + "publishes[0].data.amount: expected 31, got 30",
        case.format(line_of(FAILING, "o-2")) + 'charge: body.order: expected "o-2", got "o-1"',
        case.format(line_of(FAILING, "times: 2")) + "calls of ship: expected 2 calls, got 1",
        case.format(line_of(FAILING, "[{path")) + "calls of reserve: expected 2 calls, got 1",
        case.format(line_of(FAILING, "[reserve]")) + "expected compensations [reserve], got []",
        "1 case: 0 passed, 1 failed",
    ]
    assert out.splitlines() == expected


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write(tmp_path, {"order.test.yaml": FAILING})
    code, out, _ = interlink(capsys, "flows", "test", str(root), "--json")
    document = json.loads(out)
    assert code == 1
    assert (document["ok"], document["passed"], document["failed"]) == (False, 0, 1)
    (case,) = document["cases"]
    assert (case["file"], case["status"], len(case["failures"])) == (
        "order.test.yaml",
        "completed",
        9,
    )
    assert case["failures"][0] == {
        "file": "order.test.yaml",
        "line": line_of(FAILING, "compensated"),
        "col": 15,
        "message": "expected status compensated, got completed",
    }


def test_a_call_without_a_mock_fails_the_case_and_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """\
cases:
  - name: shipping forgotten
    input: {id: o-1, amount: 30}
    mocks:
      reserve: {}
      reserve.compensate: {}
      charge: {}
      charge.compensate: {}
    expect: {status: compensated}
"""
    code, out, _ = interlink(
        capsys, "flows", "test", str(write(tmp_path, {"order.test.yaml": text}))
    )
    assert code == 1
    assert out.splitlines()[1] == (
        f"order.test.yaml:{line_of(text, 'mocks')}: case 'shipping forgotten': step ship called "
        "System/erp (POST /ship/o-1) and the case has no mock for it: add one under mocks: ship"
    )


@pytest.mark.parametrize(
    ("text", "needle", "message"),
    [
        (
            "flow: ordr\ncases: [{name: x, expect: {status: completed}}]\n",
            "ordr",
            "no Flow 'ordr' in the estate (did you mean 'order'?)",
        ),
        (
            "cases:\n  - name: x\n    expect: {status: failed}\n    mocks:\n      chrage: {}\n",
            "chrage",
            "Flow/order has no step 'chrage' (did you mean 'charge'?)",
        ),
        (
            "cases:\n  - name: x\n    expect: {status: failed}\n"
            "    mocks:\n      ship.compensate: {}\n",
            "ship.compensate",
            "step 'ship' has no compensate call",
        ),
        (
            "cases:\n  - name: x\n    expect:\n      calls:\n        done: {}\n",
            "done",
            "step 'done' is a map step: only call, enrich, query, write, file and send steps "
            "reach out",
        ),
        (
            "cases:\n  - name: x\n    mocks:\n      ship: {error: timeout, status: 500}\n",
            "{error",
            "an answer is an error, or a status and a body: not both",
        ),
        (
            "cases:\n  - name: x\n    expect: {status: done}\n",
            "done",
            "cases[0].expect.status: must be one of completed, compensated, failed, filtered, "
            "duplicate, got 'done'",
        ),
        (
            "cases:\n  - name: x\n    expect: {}\n",
            "{}",
            "expect checks nothing: give at least its status",
        ),
        (
            "cases:\n  - name: x\n    expcet: {}\n",
            "expcet",
            "unknown field 'expcet' in cases[0] (did you mean 'expect'?)",
        ),
    ],
)
def test_a_malformed_test_file_exits_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str, message: str
) -> None:
    root = write(tmp_path, {"order.test.yaml": text})
    code, out, err = interlink(capsys, "flows", "test", str(root))
    assert (code, out) == (2, "")
    (first,) = [line for line in err.splitlines() if message in line]
    assert first.startswith(f"order.test.yaml:{line_of(text, needle)}:")
    assert err.splitlines()[-1].endswith("nothing was run")


def test_a_test_file_named_after_no_flow_says_how_to_name_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write(
        tmp_path, {"orders.test.yaml": "cases: [{name: x, expect: {status: completed}}]\n"}
    )
    code, _, err = interlink(capsys, "flows", "test", str(root))
    assert code == 2
    assert err.splitlines()[0] == (
        "orders.test.yaml:1:1: error: no Flow 'orders' in the estate (named after the file; say "
        "which with flow:) (did you mean 'order'?)"
    )


def test_no_test_files_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = interlink(capsys, "flows", "test", str(write(tmp_path, {})))
    assert code == 2
    assert "no flow test files (*.test.yaml) under" in err


@pytest.mark.parametrize(
    ("args", "give"),
    [
        (["flows", "test"], "give it as DIR: interlink flows test DIR"),
        (["flows", "runs"], "give --estate DIR, or --admin URL to work on a running node"),
        (["flows", "list"], "give --estate DIR, or --admin URL to work on a running node"),
    ],
)
def test_no_estate_names_only_options_the_command_takes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    give: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = interlink(capsys, *args)
    assert code == 2
    assert (
        err.strip()
        == f"interlink: error: . holds no estate: run this in the estate's directory, or {give}"
    )
    assert "--store-url" not in err


def test_check_reports_test_files_and_leaves_them_out_of_the_estate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write(
        tmp_path, {"order.test.yaml": PASSING, "bad.test.yaml": "flow: order\ncases: []\n"}
    )
    estate, _ = load_estate(root)
    assert all(not f.name.endswith(".test.yaml") for f in estate.files)
    code, out, _ = interlink(capsys, "check", str(root))
    assert code == 1
    assert "bad.test.yaml:2:8: error: cases: List should have at least 1 item" in out
    assert "order.test.yaml" not in out


def test_a_flow_that_publishes_is_sent_to_a_node_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    retail = Path(__file__).resolve().parents[3] / "src/interlink/examples/retail"
    shutil.copytree(retail, tmp_path / "retail")
    code, out, err = interlink(
        capsys, "flows", "run", "order-saga", "--estate", str(tmp_path / "retail")
    )
    assert (code, out) == (2, "")
    assert err.strip() == (
        "interlink: error: Flow/order-saga publishes events, which needs a node's event mesh: "
        "start it on a running node with --admin URL"
    )
    assert not (tmp_path / "retail/.interlink").exists()  # refused before any store is made


def test_the_retail_example_passes(capsys: pytest.CaptureFixture[str]) -> None:
    retail = Path(__file__).resolve().parents[3] / "src/interlink/examples/retail"
    code, out, _ = interlink(capsys, "flows", "test", str(retail))
    assert code == 0
    assert out.splitlines()[-1] == "7 cases: 7 passed, 0 failed"


def test_the_docs_example_runs_against_the_retail_estate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = Path(__file__).resolve().parents[3]
    docs = (repo / "docs/operations.md").read_text(encoding="utf-8")
    section = docs[docs.index("### Testing flows") :]
    snippet = section[
        section.index("```yaml\n") + 8 : section.index("```\n", section.index("```yaml"))
    ]
    shutil.copytree(repo / "src/interlink/examples/retail", tmp_path / "retail")
    (tmp_path / "retail/flows/address-sync.test.yaml").write_text(snippet, encoding="utf-8")
    (tmp_path / "retail/flows/order-saga.test.yaml").unlink()  # only the snippet's case
    code, out, _ = interlink(capsys, "flows", "test", str(tmp_path / "retail"))
    assert code == 0
    assert out.splitlines() == [
        "ok    flows/address-sync.test.yaml: billing refusing the address undoes the ERP update",
        "1 case: 1 passed, 0 failed",
    ]


MORE = {
    "resend.test.yaml": """\
cases:
  - name: a bare name is the tested flow's step, another flow's is written flow/step
    input: {id: o-7, amount: 1}
    mocks:
      reserve: {}
      charge: {}
      order/ship: {body: {tracking: T-7}}
      ship: {status: 202}
    expect:
      status: completed
      calls:
        ship: {path: /resend, times: 1}
        order/ship: {path: /ship/o-7, times: 1}
""",
    "guarded.test.yaml": """\
cases:
  - name: the onError steps run before the compensation, and are mocked as any step
    input: {}
    mocks:
      reserve: {}
      reserve.compensate: {}
      ship: {status: 500}
      alert: {}
    expect:
      status: compensated
      failedStep: ship
      compensations: [reserve]
      calls:
        ship: {times: 3}
        alert: {body: {why: POST /ship answered 500}}
""",
    "batch.test.yaml": """\
cases:
  - name: an enrich is mocked like a call, and a split's calls are matched in any order
    now: "2026-05-01T00:00:00Z"
    input: {dueAt: "2026-05-03T00:00:00Z", sku: A, lines: [{sku: B}, {sku: C}]}
    mocks:
      price: {body: {eur: 3}}
      book: {status: 201}
    expect:
      status: completed
      calls:
        price: {method: GET, path: /prices/A}
        book: [{body: {sku: C}}, {body: {sku: B}}]
""",
}


def test_steps_are_addressed_across_flows_enrich_is_mocked_and_split_calls_pair_up(
    tmp_path: Path,
) -> None:
    results = run(write(tmp_path, MORE))
    assert [(r.name[:20], r.status, r.failures) for r in results] == [
        ("an enrich is mocked ", "completed", []),
        ("the onError steps ru", "compensated", []),
        ("a bare name is the t", "completed", []),
    ]


def test_a_listed_call_no_call_matches_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = MORE["batch.test.yaml"].replace("{sku: B}}]", "{sku: D}}]")
    assert text != MORE["batch.test.yaml"]
    root = write(tmp_path, {"batch.test.yaml": text})
    code, out, _ = interlink(capsys, "flows", "test", str(root))
    assert code == 1
    # Which call stands in its place depends on the order the split's runs called in.
    assert out.splitlines()[1].startswith(
        f"batch.test.yaml:{line_of(text, 'sku: D')}: case 'an enrich is mocked like a call, and "
        "a split's calls are matched in any order': book[1] (no call matches it): body.sku: "
        'expected "D", got "'
    )
