"""An estate with nothing in it, YAML that is not the estate's, and an estate in one file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from interlink.cli.check import check_command
from interlink.testing.processes import run_interlink

K8S = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"


def test_check_refuses_an_empty_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(check_command, [str(tmp_path)])
    assert result.exit_code == 1
    assert "error: no Interlink objects here (documents with apiVersion: interlink/v1)" in (
        result.output
    )
    assert result.output.splitlines()[-1] == "0 objects in 0 files: 1 error, 0 warnings"


def test_yaml_that_is_not_the_estates_is_named_without_failing(retail_dir: Path) -> None:
    (retail_dir / "deploy").mkdir()
    (retail_dir / "deploy" / "web.yaml").write_text(K8S)
    (retail_dir / "values.yml").write_text("replicas: 2\n")
    result = CliRunner().invoke(check_command, [str(retail_dir), "--date", "2027-01-01"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "skipped 2 YAML files without Interlink objects: deploy/web.yaml, values.yml"
    )
    result = CliRunner().invoke(
        check_command, [str(retail_dir), "--date", "2027-01-01", "--format", "json"]
    )
    assert json.loads(result.output)["skipped"] == ["deploy/web.yaml", "values.yml"]


def test_only_foreign_yaml_is_an_empty_estate(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(K8S)
    result = CliRunner().invoke(check_command, [str(tmp_path)])
    assert result.exit_code == 1
    assert "skipped 1 YAML file without Interlink objects: web.yaml" in result.output


def test_serve_refuses_an_empty_directory(tmp_path: Path) -> None:
    result = run_interlink(["serve", str(tmp_path), "--admin-listen", "127.0.0.1:0"])
    assert result.returncode == 2
    assert "error: no Interlink objects here" in result.stderr
    assert "not starting" in result.stderr


def test_serve_of_one_file_names_the_file_in_its_findings(tmp_path: Path) -> None:
    estate = tmp_path / "estate.yaml"
    estate.write_text(
        "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: ops}\n---\n"
        "apiVersion: interlink/v1\nkind: System\nmetadata: {name: crm, owner: opz}\n"
        "spec: {domain: sales}\n"
    )
    result = run_interlink(["serve", str(estate), "--admin-listen", "127.0.0.1:0"])
    assert result.returncode == 2
    assert "estate.yaml:7:30: error: System/crm refers to Team/opz" in result.stderr
    assert ".:7:" not in result.stderr
