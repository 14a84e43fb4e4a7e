"""The `interlink` command through its real entry point, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import jsonschema_rs
import yaml

from interlink.testing.processes import TOKEN, InterlinkProcess, free_port, run_interlink


def test_init_writes_an_estate_that_checks_clean(tmp_path: Path) -> None:
    target = tmp_path / "estate"
    result = run_interlink(["init", str(target), "--example", "retail"])
    assert result.returncode == 0, result.stderr
    assert "wrote the retail example estate" in result.stdout
    check = run_interlink(["check", str(target), "--date", "2027-01-01"])
    assert check.returncode == 0, check.stdout
    # Route/customers and its two consumers still use customers-v1, which is deprecated, and
    # a Monitor watches its DataProduct, which is virtual (never refreshed).
    assert check.stdout.splitlines()[-1] == "53 objects in 23 files: 0 errors, 4 warnings"


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = run_interlink(["init", str(tmp_path)])
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"interlink: error: {tmp_path} is not empty (use --force to write into it anyway)"
    )


def test_check_reports_findings_grouped_by_file_and_exits_1(retail_dir: Path) -> None:
    apis = retail_dir / "apis.yaml"
    apis.write_text(apis.read_text().replace("owner: sales", "owner: sale", 1))
    (retail_dir / "zz.yaml").write_text("apiVersion: interlink/v1\nkind: Sytem\n")
    result = run_interlink(["check", str(retail_dir), "--date", "2027-01-01"])
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "apis.yaml"
    assert lines[1] == (
        "  apis.yaml:7:10: error: Api/customers-v1 refers to Team/sale, which does not exist "
        "(did you mean 'sales'?)"
    )
    assert "zz.yaml" in lines
    assert "  zz.yaml:2:7: error: unknown kind 'Sytem' (did you mean 'System'?)" in lines
    assert lines[-1] == "53 objects in 24 files: 2 errors, 4 warnings"


def test_check_json_output_for_ci(retail_dir: Path) -> None:
    (retail_dir / "plans-extra.yaml").write_text(
        "apiVersion: interlink/v1\nkind: Plan\nmetadata: {name: odd}\nspec:\n"
        "  limits:\n    - {requests: 100, per: 1s}\n    - {requests: 50, per: 1m}\n"
    )
    result = run_interlink(["check", str(retail_dir), "--format", "json", "--date", "2027-01-01"])
    assert result.returncode == 0  # warnings only
    body = json.loads(result.stdout)
    assert body["ok"] is True
    assert body["warnings"] == 5  # with the example's 3 lifecycle and 1 not-run warnings
    (finding,) = [
        f
        for f in body["findings"]
        if not f["code"].startswith("LIFECYCLE_") and f["code"] != "NOT_RUN"
    ]
    assert finding["code"] == "PLAN_LIMIT_SHADOWED"
    assert (finding["file"], finding["line"]) == ("plans-extra.yaml", 6)


def test_check_cannot_run_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_interlink(["check", str(tmp_path / "missing")])
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"interlink: error: {tmp_path / 'missing'}: no such file or directory"
    )
    assert result.stdout == ""


def test_check_lists_its_rules() -> None:
    result = run_interlink(["check", "--list-rules"])
    assert result.returncode == 0
    assert "OWNER_MISSING" in result.stdout
    assert "PLAN_LIMITS" in result.stdout


def test_graph_formats(retail_dir: Path) -> None:
    mermaid = run_interlink(["graph", str(retail_dir)])
    assert mermaid.returncode == 0
    assert mermaid.stdout.startswith("flowchart LR")
    assert "System_crm -->|exposes| Api_customers_v1" in mermaid.stdout
    dot = run_interlink(["graph", str(retail_dir), "--format", "dot"])
    assert '"System/crm" -> "Api/customers-v1" [label="exposes"];' in dot.stdout
    graph = json.loads(run_interlink(["graph", str(retail_dir), "--format", "json"]).stdout)
    types = {e["type"] for e in graph["edges"]}
    assert {
        "owns",
        "exposes",
        "routes-to",
        "publishes",
        "subscribes",
        "calls",
        "reads",
        "writes",
    } <= types


def test_graph_refuses_a_broken_estate(retail_dir: Path) -> None:
    (retail_dir / "bad.yaml").write_text("a: [\n")
    result = run_interlink(["graph", str(retail_dir)])
    assert result.returncode == 2
    assert result.stderr.startswith("interlink: error: ")
    assert "bad.yaml:2:1: error: invalid YAML" in result.stderr


def test_schema_validates_the_example_estate(tmp_path: Path) -> None:
    out = tmp_path / "estate.schema.json"
    result = run_interlink(["schema", "--output", str(out)])
    assert result.returncode == 0
    validator = jsonschema_rs.validator_for(json.loads(out.read_text()))
    example = Path(__file__).parents[2] / "src" / "interlink" / "examples" / "retail"
    count = 0
    for file in example.rglob("*.yaml"):
        for doc in yaml.safe_load_all(file.read_text()):
            if isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("interlink/"):
                count += 1
                data = json.loads(json.dumps(doc, default=str))
                assert validator.is_valid(data), file
    assert count == 53
    assert not validator.is_valid(
        {
            "apiVersion": "interlink/v1",
            "kind": "System",
            "metadata": {"name": "x"},
            "spec": {"domain": "d", "x": 1},
        }
    )


def test_unknown_command_and_bad_option_are_one_line() -> None:
    result = run_interlink(["chek"])
    assert result.returncode == 2
    assert "No such command 'chek'" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_serves_the_example_and_prints_working_commands(tmp_path: Path) -> None:
    port = free_port()
    demo = InterlinkProcess(
        ["demo", "--dir", str(tmp_path / "demo"), "--admin-listen", f"127.0.0.1:{port}"],
        cwd=tmp_path,
    )
    with demo:
        token = demo.wait_for(r"admin token\s+" + TOKEN.pattern).group(1)
        demo.wait_for("Ctrl-C stops.")
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/estate", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200
        assert len(response.json()["objects"]) == 53
        assert f"curl http://127.0.0.1:{port}/readyz" in demo.output
        demo.signal(signal.SIGINT)
        assert demo.proc is not None
        assert demo.proc.wait(15) == 0
    # A second run reuses the estate and issues a fresh token; the old one stops working.
    again = InterlinkProcess(
        ["demo", "--dir", str(tmp_path / "demo"), "--admin-listen", f"127.0.0.1:{port}"],
        cwd=tmp_path,
    )
    with again:
        fresh = again.wait_for(r"admin token\s+" + TOKEN.pattern).group(1)
        assert "wrote the retail example" not in again.output
        headers = {"Authorization": f"Bearer {token}"}
        assert (
            httpx.get(f"http://127.0.0.1:{port}/api/v1/estate", headers=headers).status_code == 401
        )
        headers = {"Authorization": f"Bearer {fresh}"}
        assert (
            httpx.get(f"http://127.0.0.1:{port}/api/v1/estate", headers=headers).status_code == 200
        )


def test_no_secret_value_reaches_the_output(retail_dir: Path) -> None:
    env = {"INTERLINK_SECRET_MOBILE_JWT_KEY": "s3cr3t-value-123"}
    port = free_port()
    proc = InterlinkProcess(
        ["serve", str(retail_dir), "--admin-listen", f"127.0.0.1:{port}", "--log-level", "debug"],
        env=env,
    )
    with proc:
        token = proc.wait_for(r"store it now\): " + TOKEN.pattern).group(1)
        body = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/estate", headers={"Authorization": f"Bearer {token}"}
        ).text
        assert "s3cr3t-value-123" not in body
        assert "${secret:mobile-jwt-key}" in body
    assert "s3cr3t-value-123" not in proc.output
    assert proc.output.count(token) == 1  # printed once at first start, never logged
    assert os.environ.get("INTERLINK_SECRET_MOBILE_JWT_KEY") is None


def test_estate_reference_in_docs_is_current() -> None:
    """docs/estate.md is generated; regenerate with `interlink schema --format markdown -o …`."""
    docs = Path(__file__).parents[2] / "docs" / "estate.md"
    result = run_interlink(["schema", "--format", "markdown"])
    assert result.returncode == 0
    assert docs.read_text() == result.stdout
