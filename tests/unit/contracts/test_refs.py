"""``$ref`` resolution: local, escaped, anchored, cross-file (JSON and YAML) and recursive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlink.contracts import compare, diff_files
from interlink.contracts._pointer import escape, fragment_tokens, split, unescape
from interlink.errors import ContractError
from tests.unit.contracts.assertions import by_code, check, obj

S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741


def write(path: Path, value: Any) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(value))
    else:
        path.write_text(yaml.safe_dump(value))
    return path


@pytest.mark.parametrize(
    ("token", "escaped"),
    [("a/b", "a~1b"), ("a~b", "a~0b"), ("~1", "~01"), ("plain", "plain")],
)
def test_pointer_escaping_round_trips(token: str, escaped: str) -> None:
    assert escape(token) == escaped
    assert unescape(escaped) == token
    assert split(f"#/x/{escaped}") == ["x", token]


def test_fragment_is_percent_decoded_before_unescaping() -> None:
    assert fragment_tokens("/$defs/with%20space/a~1b") == ["$defs", "with space", "a/b"]
    assert fragment_tokens("/$defs/%7E0") == ["$defs", "~"]


@pytest.mark.parametrize("container", ["$defs", "definitions"])
def test_local_refs_resolve(container: str) -> None:
    old = {container: {"Zip": S}, **obj({"zip": {"$ref": f"#/{container}/Zip"}})}
    new = {container: {"Zip": I}, **obj({"zip": {"$ref": f"#/{container}/Zip"}})}
    check(old, new, "TYPE_CHANGED", True, "#/properties/zip")


def test_openapi_component_refs_resolve() -> None:
    old = {
        "components": {"schemas": {"Zip": S}},
        **obj({"zip": {"$ref": "#/components/schemas/Zip"}}),
    }
    new = {
        "components": {"schemas": {"Zip": I}},
        **obj({"zip": {"$ref": "#/components/schemas/Zip"}}),
    }
    check(old, new, "TYPE_CHANGED", True, "#/properties/zip")


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("a/b", "#/$defs/a~1b"),
        ("t~x", "#/$defs/t~0x"),
        ("with space", "#/$defs/with%20space"),
        ("per%cent", "#/$defs/per%25cent"),
    ],
)
def test_escaped_and_percent_encoded_refs(name: str, ref: str) -> None:
    old = {"$defs": {name: S}, **obj({"v": {"$ref": ref}})}
    new = {"$defs": {name: I}, **obj({"v": {"$ref": ref}})}
    check(old, new, "TYPE_CHANGED", True, "#/properties/v")


def test_anchor_refs() -> None:
    old = {"$defs": {"x": {"$anchor": "zip", **S}}, **obj({"zip": {"$ref": "#zip"}})}
    new = {"$defs": {"x": {"$anchor": "zip", **I}}, **obj({"zip": {"$ref": "#zip"}})}
    check(old, new, "TYPE_CHANGED", True)


def test_ref_siblings_are_laid_over_the_target() -> None:
    old = {"$defs": {"Zip": S}, **obj({"zip": {"$ref": "#/$defs/Zip"}})}
    new = {"$defs": {"Zip": S}, **obj({"zip": {"$ref": "#/$defs/Zip", "maxLength": 5}})}
    check(old, new, "MAX_LENGTH_ADDED", True, "#/properties/zip")


def test_cross_file_refs_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    write(tmp_path / "old" / "common.yaml", {"$defs": {"Zip": S}})
    write(tmp_path / "new" / "common.yaml", {"$defs": {"Zip": I}})
    write(tmp_path / "old" / "money.json", {"type": "number"})
    write(tmp_path / "new" / "money.json", {"type": "integer"})
    event = obj({"zip": {"$ref": "common.yaml#/$defs/Zip"}, "amount": {"$ref": "./money.json"}})
    old = write(tmp_path / "old" / "event.json", event)
    new = write(tmp_path / "new" / "event.json", event)
    report = diff_files(old, new)
    assert by_code(report.differences, "TYPE_CHANGED").pointer == "#/properties/zip"
    assert by_code(report.differences, "TYPE_NARROWED").pointer == "#/properties/amount"
    assert not report.compatible


def test_self_referencing_schema_terminates_and_finds_changes() -> None:
    def tree(leaf: Any) -> dict[str, Any]:
        node = obj(
            {"value": leaf, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}
        )
        return {"$defs": {"node": node}, "$ref": "#/$defs/node"}

    assert compare(tree(S), tree(S)) == []
    check(tree(S), tree(I), "TYPE_CHANGED", True, "#/properties/value")


def test_mutually_recursive_cross_file_refs_terminate(tmp_path: Path) -> None:
    for side, leaf in (("old", S), ("new", I)):
        folder = tmp_path / side
        folder.mkdir()
        write(folder / "a.json", obj({"b": {"$ref": "b.yaml"}, "leaf": leaf}))
        write(folder / "b.yaml", obj({"a": {"$ref": "a.json"}, "n": I}))
    report = diff_files(tmp_path / "old" / "a.json", tmp_path / "new" / "a.json")
    assert [d.pointer for d in report.breaking] == ["#/properties/leaf"]
    same = diff_files(tmp_path / "old" / "a.json", tmp_path / "old" / "a.json")
    assert same.compatible
    assert same.differences == []


def test_unresolvable_local_ref_names_ref_and_file(tmp_path: Path) -> None:
    schema = write(tmp_path / "event.json", obj({"zip": {"$ref": "#/$defs/Missing"}}))
    with pytest.raises(ContractError) as caught:
        diff_files(schema, schema)
    assert "#/$defs/Missing" in caught.value.message
    assert "event.json" in caught.value.message


def test_missing_file_ref_names_ref(tmp_path: Path) -> None:
    schema = write(tmp_path / "event.json", obj({"zip": {"$ref": "nowhere.yaml#/Zip"}}))
    with pytest.raises(ContractError, match=r"nowhere\.yaml#/Zip.*no such file"):
        diff_files(schema, schema)


def test_remote_refs_are_refused() -> None:
    old = obj({"zip": {"$ref": "https://example.com/zip.json"}})
    with pytest.raises(ContractError, match="remote references are not supported"):
        compare(old, obj({"zip": I}))


def test_relative_ref_without_location_is_an_error() -> None:
    with pytest.raises(ContractError, match="no file location"):
        compare(obj({"zip": {"$ref": "common.json"}}), obj({"zip": I}))


def test_circular_ref_chain_is_an_error() -> None:
    schema = {
        "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
        "$ref": "#/$defs/a",
    }
    with pytest.raises(ContractError, match="circular"):
        compare(schema, S)


def test_non_string_ref_is_an_error() -> None:
    with pytest.raises(ContractError, match="'\\$ref' must be a string"):
        compare(obj({"a": {"$ref": 5}}), obj({"a": S}))
