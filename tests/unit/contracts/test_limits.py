"""Bounded work and input validation: every failure is a ContractError, never a hang."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from interlink.contracts import compare, diff_files
from interlink.contracts._document import Document
from interlink.contracts.jsonschema_compat import TOO_LARGE, SchemaComparer
from interlink.contracts.refs import Resolver
from interlink.errors import ContractError
from tests.unit.contracts.assertions import obj

S = {"type": "string"}


def nested(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    schema = leaf
    for _ in range(depth):
        schema = obj({"a": schema})
    return schema


def test_nesting_within_the_limit_is_compared() -> None:
    differences = compare(nested(40, S), nested(40, {"type": "integer"}))
    assert [d.code for d in differences] == ["TYPE_CHANGED"]
    assert differences[0].pointer == "#" + "/properties/a" * 40


def test_nesting_beyond_the_limit_is_refused() -> None:
    with pytest.raises(ContractError, match=TOO_LARGE):
        compare(nested(300, S), nested(300, {"type": "integer"}))


def test_very_wide_schema_is_refused_quickly() -> None:
    wide = obj({f"p{i}": {"type": "string"} for i in range(210_000)})
    with pytest.raises(ContractError, match=TOO_LARGE):
        compare(wide, obj({f"p{i}": {"type": "string"} for i in range(210_000)}))


def combinatorial(depth: int, leaf: int) -> dict[str, Any]:
    """anyOf members that all look alike: matching them costs width**2 per level."""
    if depth == 0:
        return {"type": "string", "maxLength": leaf}
    members = [obj({"p": combinatorial(depth - 1, leaf)}, minProperties=i) for i in range(8)]
    return {"anyOf": members}


def test_combinatorial_blow_up_hits_the_step_budget() -> None:
    with pytest.raises(ContractError, match=TOO_LARGE):
        compare(combinatorial(3, 5), combinatorial(3, 4))


def test_step_budget_is_configurable() -> None:
    resolver = Resolver()
    old = resolver.add_root(combinatorial(2, 5), label="old")
    new = resolver.add_root(combinatorial(2, 4), label="new")
    comparer = SchemaComparer(resolver, max_steps=50)
    with pytest.raises(ContractError, match=TOO_LARGE):
        comparer.run(old.root, old, new.root, new, "#")


def test_yaml_alias_bomb_is_bounded(tmp_path: Path) -> None:
    lines = ["a0: &a0 {type: string}"]
    for i in range(1, 40):
        lines.append(f"a{i}: &a{i} {{anyOf: [*a{i - 1}, *a{i - 1}, {{minLength: {i}}}]}}")
    lines.append("properties: {x: *a39}")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines))
    other = tmp_path / "other.yaml"
    other.write_text("\n".join([*lines[:-1], "properties: {x: *a38}"]))
    with pytest.raises(ContractError, match="too large"):
        diff_files(bomb, other)


def test_self_containing_value_is_refused() -> None:
    loop: dict[str, Any] = {"type": "object", "properties": {}}
    loop["properties"]["self"] = loop
    other = copy.deepcopy(loop)
    other["maxProperties"] = 3
    with pytest.raises(ContractError, match="contains itself"):
        compare(loop, other)


def test_self_containing_yaml_alias_is_refused(tmp_path: Path) -> None:
    looped = tmp_path / "loop.yaml"
    looped.write_text("&a {type: object, properties: {self: *a}}\n")
    with pytest.raises(ContractError, match="contains itself"):
        diff_files(looped, looped)


def test_modest_shared_values_are_fine() -> None:
    shared = {"type": "string", "maxLength": 5}
    old = obj({f"p{i}": shared for i in range(50)})
    new = obj({f"p{i}": shared for i in range(50)}, required=["p1"])
    assert [d.code for d in compare(old, new)] == ["REQUIRED_ATTRIBUTE_ADDED"]


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        (obj({"a": {"type": 5}}), "#/properties/a/type"),
        (obj({"a": {"type": "text"}}), "#/properties/a/type"),
        (obj({"a": S}, required="a"), "#/required"),
        (obj({"a": 5}), "#/properties/a"),
        (obj({"a": {"maxLength": -1}}), "#/properties/a/maxLength"),
        (obj({"a": {"minimum": "0"}}), "#/properties/a/minimum"),
        (obj({"a": {"multipleOf": 0}}), "#/properties/a/multipleOf"),
        ({"anyOf": []}, "#/anyOf"),
        ({"items": [S, 3]}, "#/items"),
        ({"$defs": {"x": {"enum": "abc"}}}, "#/$defs/x/enum"),
        (obj({"a~b/c": {"pattern": 1}}), "#/properties/a~0b~1c/pattern"),
    ],
)
def test_malformed_keywords_are_named_with_their_pointer(schema: Any, where: str) -> None:
    with pytest.raises(ContractError) as caught:
        compare(schema, obj())
    assert where in caught.value.message
    with pytest.raises(ContractError):
        compare(obj(), schema)


@pytest.mark.parametrize("schema", [[], "string", 5, None])
def test_schema_must_be_object_or_boolean(schema: Any) -> None:
    with pytest.raises(ContractError, match="must be an object or a boolean"):
        compare(schema, {})


def test_bad_pattern_property_regex_is_a_contract_error() -> None:
    old = obj({"a": S}, patternProperties={"([": S})
    with pytest.raises(ContractError, match="bad regular expression"):
        compare(old, obj(patternProperties={"([": S}))


def test_document_repr_is_its_label() -> None:
    assert repr(Document("<x>", {}, None, "old schema")) == "Document(old schema)"
