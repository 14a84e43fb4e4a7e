"""``interlink diff`` through click's runner: exit codes, formats and error lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from interlink.cli.diff import diff_command

OLD = {"type": "object", "properties": {"zip": {"type": "string"}, "n": {"type": "integer"}}}
WIDER = {"type": "object", "properties": {"zip": {"type": "string"}, "n": {"type": "number"}}}
BROKEN = {"type": "object", "properties": {"zip": {"type": "integer"}, "n": {"type": "integer"}}}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, schema in (("old", OLD), ("wider", WIDER), ("broken", BROKEN)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(schema))
        paths[name] = str(path)
    return paths


def test_compatible_change_exits_zero(files: dict[str, str]) -> None:
    result = CliRunner().invoke(diff_command, [files["old"], files["wider"]])
    assert result.exit_code == 0
    assert result.stdout.startswith("compatible: 0 breaking, 1 non-breaking")


def test_breaking_change_exits_one_with_json(files: dict[str, str]) -> None:
    result = CliRunner().invoke(diff_command, [files["old"], files["broken"], "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["compatible"] is False
    assert report["differences"] == [
        {
            "code": "TYPE_CHANGED",
            "pointer": "#/properties/zip",
            "message": "property 'zip' changed type from string to integer: readers using the "
            "new schema cannot read data written with the old one",
            "breaking": True,
            "severity": "breaking",
        }
    ]


def test_mode_changes_the_verdict(files: dict[str, str]) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(diff_command, [files["old"], files["wider"], "--mode", "forward"]).exit_code
        == 1
    )
    assert (
        runner.invoke(diff_command, [files["old"], files["broken"], "--mode", "NONE"]).exit_code
        == 0
    )


def test_markdown_format(files: dict[str, str]) -> None:
    result = CliRunner().invoke(
        diff_command, [files["old"], files["broken"], "--format", "markdown"]
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("### ❌")


def test_lenient_policy(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    new = tmp_path / "new.yaml"
    old.write_text("type: object\nproperties: {a: {type: string}}\n")
    new.write_text("type: object\nproperties: {a: {type: string}, b: {type: integer}}\n")
    runner = CliRunner()
    assert runner.invoke(diff_command, [str(old), str(new)]).exit_code == 1
    assert runner.invoke(diff_command, [str(old), str(new), "--policy", "lenient"]).exit_code == 0


def test_unusable_input_exits_two_with_one_line(files: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(diff_command, [files["old"], str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("interlink: error: ")
    assert "missing.json" in lines[0]
    assert "Traceback" not in result.output


def test_invalid_schema_exits_two(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "object", "required": "zip"}))
    result = CliRunner().invoke(diff_command, [str(bad), str(bad)])
    assert result.exit_code == 2
    assert result.stderr.startswith("interlink: error: invalid schema at #/required")


def test_bad_option_is_a_usage_error(files: dict[str, str]) -> None:
    result = CliRunner().invoke(diff_command, [files["old"], files["old"], "--mode", "SIDEWAYS"])
    assert result.exit_code == 2
