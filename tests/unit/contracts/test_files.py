"""Loading contract files and choosing the comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlink.contracts import detect_kind, diff_files, load_contract
from interlink.errors import ContractError

SCHEMA = {"type": "object", "properties": {"zip": {"type": "string"}}}
OPENAPI = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}


def test_json_and_yaml_load_to_the_same_value(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "a.yaml").write_text("type: object\nproperties:\n  zip: {type: string}\n")
    assert load_contract(tmp_path / "a.json") == load_contract(tmp_path / "a.yaml") == SCHEMA


def test_yaml_keys_and_dates_become_json(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text("responses:\n  200: {description: ok}\nexample: 2024-01-02\non: 1\n")
    loaded = load_contract(path)
    assert loaded == {
        "responses": {"200": {"description": "ok"}},
        "example": "2024-01-02",
        "true": 1,
    }


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", "{", "invalid JSON at line 1"),
        ("bad.yaml", "a: [1,\n", "invalid YAML at line"),
        ("empty.yaml", "", "file is empty"),
        ("many.yaml", "a: 1\n---\nb: 2\n", "holds 2 YAML documents"),
        ("list.json", "[1, 2]", "expected a mapping"),
        ("latin.json", b"\xff\xfe{".decode("latin-1"), "not UTF-8"),
    ],
)
def test_unusable_files_are_contract_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(ContractError, match=message):
        load_contract(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no such file"):
        load_contract(tmp_path / "nope.yaml")
    with pytest.raises(ContractError, match="is a directory"):
        load_contract(tmp_path)


def test_boolean_schema_files_load(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text("true")
    (tmp_path / "f.json").write_text("false")
    assert diff_files(tmp_path / "f.json", tmp_path / "t.json").compatible
    assert not diff_files(tmp_path / "t.json", tmp_path / "f.json").compatible


def test_detect_kind() -> None:
    assert detect_kind(OPENAPI) == "openapi"
    assert detect_kind(SCHEMA) == "jsonschema"
    assert detect_kind(True) == "jsonschema"
    with pytest.raises(ContractError, match=r"Swagger 2\.0"):
        detect_kind({"swagger": "2.0"})
    with pytest.raises(ContractError, match="must be a mapping"):
        detect_kind([1])


def test_diff_files_picks_the_comparison(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text(json.dumps(SCHEMA))
    changed = {"type": "object", "properties": {"zip": {"type": "integer"}}}
    (tmp_path / "new.json").write_text(json.dumps(changed))
    report = diff_files(tmp_path / "old.json", tmp_path / "new.json")
    assert [d.code for d in report.breaking] == ["TYPE_CHANGED"]
    assert diff_files(tmp_path / "old.json", tmp_path / "new.json", mode="NONE").compatible
    (tmp_path / "api1.yaml").write_text(json.dumps({**OPENAPI, "paths": {"/a": {"get": {}}}}))
    (tmp_path / "api2.yaml").write_text(json.dumps(OPENAPI))
    api = diff_files(tmp_path / "api1.yaml", tmp_path / "api2.yaml")
    assert [d.code for d in api.breaking] == ["PATH_REMOVED"]


def test_diff_files_refuses_mixed_kinds(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "o.json").write_text(json.dumps(OPENAPI))
    with pytest.raises(ContractError, match="cannot compare"):
        diff_files(tmp_path / "s.json", tmp_path / "o.json")
