"""Flow templates: each shipped one checks and passes its own cases on its example; a Flow
naming one is expanded by the loader; `interlink init --template` writes an ordinary flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlink.cli.main import main
from interlink.connectors.registry import registry
from interlink.estate.check import check_estate
from interlink.estate.flow_templates import substitute, templates
from interlink.estate.kinds.flow import Flow, PublishStep, WriteStep
from tests.unit.estate.helpers import TODAY, write

#: Systems and an Event every template's example names.
ESTATE = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: data}
---
apiVersion: interlink/v1
kind: System
metadata: {name: shop, owner: data}
spec: {domain: data, connector: sqlite, connection: {path: shop.db}}
---
apiVersion: interlink/v1
kind: System
metadata: {name: warehouse, owner: data}
spec: {domain: data, connector: sqlite, connection: {path: warehouse.db}}
---
apiVersion: interlink/v1
kind: System
metadata: {name: rabbit, owner: data}
spec:
  domain: data
  connector: amqp
  connection: {url: "amqp://app:${secret:rabbit-password}@mq.example:5672/"}
---
apiVersion: interlink/v1
kind: System
metadata: {name: drop, owner: data}
spec: {domain: data, connector: directory, connection: {root: /srv/drop}}
---
apiVersion: interlink/v1
kind: System
metadata: {name: partner, owner: data}
spec: {domain: data, baseUrl: "https://partner.example"}
---
apiVersion: interlink/v1
kind: System
metadata: {name: erp, owner: data}
spec: {domain: data, baseUrl: "https://erp.example"}
---
apiVersion: interlink/v1
kind: Event
metadata: {name: customer.changed, owner: data}
spec:
  system: shop
  schemas: [{version: 1, file: customer.schema.json}]
"""
SCHEMA = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}


def _estate(root: Path) -> Path:
    write(root, "estate.yaml", ESTATE)
    write(root, "customer.schema.json", json.dumps(SCHEMA))
    return root


def _errors(root: Path) -> list[str]:
    result = check_estate(root, today=TODAY, connectors=registry())
    return [f.render(root) for f in result.findings if f.severity == "error"]


def interlink(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The CLI as a user runs it: its exit code, and what it printed (out and err)."""
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out + err


def _referencing(name: str, params: str, extra: str = "") -> str:
    return (
        "apiVersion: interlink/v1\nkind: Flow\nmetadata: {name: synced, owner: data}\nspec:\n"
        f"  template: {name}\n  parameters: {params}\n{extra}"
    )


def test_placeholders_keep_a_whole_values_type_and_interpolate_in_text() -> None:
    params = {"key": ["id", "region"], "table": "orders", "n": 5}
    got = substitute(
        {"key": "${param:key}", "sql": "SELECT * FROM ${param:table} LIMIT ${param:n}"}, params
    )
    assert got == {"key": ["id", "region"], "sql": "SELECT * FROM orders LIMIT 5"}


@pytest.mark.parametrize("name", sorted(templates()))
def test_each_template_writes_a_flow_that_checks_and_passes_its_cases(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _estate(tmp_path / "estate")
    example = templates()[name].example
    args = ["init", str(root), "--template", name, "--name", "copied", "--owner", "data"]
    for key, value in example.items():
        args += ["--param", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    written = interlink(capsys, *args)
    assert written[0] == 0, written[1]
    assert (root / "flows" / "copied.yaml").read_text().startswith("# ")
    assert _errors(root) == []
    tested = interlink(capsys, "flows", "test", str(root))
    assert tested[0] == 0, tested[1]
    assert "0 failed" in tested[1]


def test_a_flow_naming_a_template_is_expanded_and_runs_its_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _estate(tmp_path)
    params = "{source: shop, table: orders, cursor: updated_at, key: [id], target: warehouse}"
    write(root, "flows/synced.yaml", _referencing("table-sync", params, "  timeout: 1m\n"))
    assert _errors(root) == []
    loaded = check_estate(root, today=TODAY, connectors=registry()).estate.get("Flow", "synced")
    assert loaded is not None
    assert isinstance(loaded.obj, Flow)
    spec = loaded.obj.spec
    assert spec.template == "table-sync"
    assert spec.timeout == 60.0
    step = spec.steps[0]
    assert isinstance(step, WriteStep)
    assert (step.table, step.key, step.mode) == ("orders", ["id"], "upsert")  # default: the table
    tested = interlink(capsys, "flows", "test", str(root))
    assert tested[0] == 0, tested[1]
    assert "synced.yaml#template-table-sync: a polled row is upserted by key" in tested[1]


def test_the_flows_own_test_file_replaces_the_templates_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _estate(tmp_path)
    params = "{source: shop, table: customers, cursor: v, key: [id], event: customer.changed}"
    write(root, "flows/synced.yaml", _referencing("cdc-to-event", params))
    write(
        root,
        "flows/synced.test.yaml",
        "cases:\n  - name: mine\n    input: {id: 7}\n    expect:\n"
        "      status: completed\n      publishes: [{event: customer.changed, data: {id: 7}}]\n",
    )
    loaded = check_estate(root, today=TODAY, connectors=registry()).estate.get("Flow", "synced")
    assert loaded is not None
    assert isinstance(loaded.obj, Flow)
    assert isinstance(loaded.obj.spec.steps[0], PublishStep)
    tested = interlink(capsys, "flows", "test", str(root))
    assert tested[0] == 0, tested[1]
    assert "1 case: 1 passed" in tested[1]


def test_bad_template_references_are_said_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _estate(tmp_path)
    write(root, "flows/a.yaml", _referencing("table-synk", "{}").replace("synced", "a"))
    write(
        root,
        "flows/b.yaml",
        _referencing("table-sync", "{source: shop, tabel: orders}").replace("synced", "b"),
    )
    write(
        root,
        "flows/c.yaml",
        _referencing(
            "cdc-to-event",
            "{source: shop, table: t, cursor: v, key: [id], event: customer.changed}",
            "  steps: [{name: x, type: map, expression: '$'}]\n",
        ).replace("synced", "c"),
    )
    errors = _errors(root)
    assert any(
        e.startswith("flows/a.yaml:5:")
        and "unknown template 'table-synk'" in e
        and "table-sync" in e
        for e in errors
    ), errors
    assert any(
        e.startswith("flows/b.yaml:6:") and "takes no parameter 'tabel'" in e for e in errors
    )
    assert any(
        e.startswith("flows/b.yaml:6:") and "parameter 'cursor' is required" in e for e in errors
    )
    assert any(e.startswith("flows/c.yaml:7:") and "steps comes from template" in e for e in errors)


def test_init_refuses_bad_parameters_and_existing_files_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _estate(tmp_path)
    base = ["init", str(root), "--template", "table-sync", "--name", "s"]
    missing = interlink(capsys, *[*base, "--param", "source=shop"])
    assert missing[0] != 0
    assert "template table-sync:" in missing[1]
    assert "Traceback" not in missing[1]
    good = [*base, "--param", "source=shop", "--param", "table=t", "--param", "cursor=v"]
    good += ["--param", "key=[id]", "--param", "target=warehouse"]
    assert interlink(capsys, *good)[0] == 0
    again = interlink(capsys, *good)
    assert again[0] != 0
    assert "exists (use --force" in again[1]
    stray = interlink(capsys, "init", str(tmp_path / "x"), "--param", "a=b")
    assert stray[0] != 0
    assert "go with --template" in stray[1]


def test_the_docs_example_checks_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs/connectors.md").read_text("utf-8")
    section = docs[docs.index("## Templates") :]
    start = section.index("```yaml\n") + 8
    snippet = section[start : section.index("```\n", start)]
    root = _estate(tmp_path)
    write(root, "flows/customers-changed.yaml", snippet)
    assert _errors(root) == []
    code, out = interlink(capsys, "flows", "test", str(root))
    assert code == 0, out
    assert "1 case: 1 passed" in out
