"""Every JSON Schema rule, in both directions: the change and its reverse (BACKWARD, strict)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from interlink.contracts import compare
from tests.unit.contracts.assertions import by_code, check, obj

S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741 - reads as the JSON type it stands for
B = {"type": "boolean"}
# Union members with constraints: unions of bare types read as type lists.
S3 = {"type": "string", "maxLength": 3}
I0 = {"type": "integer", "minimum": 0}


@dataclass(frozen=True)
class Rule:
    id: str
    old: Any
    new: Any
    code: str
    breaking: bool
    reverse_code: str
    reverse_breaking: bool
    pointer: str = "#"


RULES = [
    # types
    Rule("integer-to-number", I, {"type": "number"}, "TYPE_EXTENDED", False, "TYPE_NARROWED", True),
    Rule(
        "type-added-to-list",
        S,
        {"type": ["string", "null"]},
        "TYPE_EXTENDED",
        False,
        "TYPE_NARROWED",
        True,
    ),
    Rule("type-changed", S, I, "TYPE_CHANGED", True, "TYPE_CHANGED", True),
    Rule(
        "type-partly-changed",
        {"type": ["string", "null"]},
        {"type": ["integer", "null"]},
        "TYPE_CHANGED",
        True,
        "TYPE_CHANGED",
        True,
    ),
    Rule(
        "nullable-openapi-30",
        S,
        {"type": "string", "nullable": True},
        "TYPE_EXTENDED",
        False,
        "TYPE_NARROWED",
        True,
    ),
    # enum and const
    Rule(
        "enum-extended",
        {"enum": ["a", "b"]},
        {"enum": ["a", "b", "c"]},
        "ENUM_EXTENDED",
        False,
        "ENUM_NARROWED",
        True,
    ),
    Rule(
        "enum-changed",
        {"enum": ["a", "b"]},
        {"enum": ["a", "c"]},
        "ENUM_CHANGED",
        True,
        "ENUM_CHANGED",
        True,
    ),
    Rule(
        "enum-added",
        S,
        {"type": "string", "enum": ["a"]},
        "ENUM_ADDED",
        True,
        "ENUM_REMOVED",
        False,
    ),
    Rule(
        "const-changed",
        {"const": "a"},
        {"const": "b"},
        "CONST_CHANGED",
        True,
        "CONST_CHANGED",
        True,
    ),
    Rule(
        "const-added",
        S,
        {"type": "string", "const": "a"},
        "CONST_ADDED",
        True,
        "CONST_REMOVED",
        False,
    ),
    Rule(
        "const-to-enum",
        {"const": "a"},
        {"enum": ["a", "b"]},
        "ENUM_EXTENDED",
        False,
        "ENUM_NARROWED",
        True,
    ),
    # combinators
    Rule(
        "any-of-member-added",
        {"anyOf": [S3, I0]},
        {"anyOf": [S3, I0, B]},
        "ANY_OF_MEMBER_ADDED",
        False,
        "ANY_OF_MEMBER_REMOVED",
        True,
        "#/anyOf/2",
    ),
    Rule(
        "one-of-member-added",
        {"oneOf": [S3, I0]},
        {"oneOf": [S3, I0, B]},
        "ONE_OF_MEMBER_ADDED",
        False,
        "ONE_OF_MEMBER_REMOVED",
        True,
        "#/oneOf/2",
    ),
    Rule(
        "plain-to-union",
        S,
        {"anyOf": [S, {"type": "integer", "minimum": 0}]},
        "ANY_OF_MEMBER_ADDED",
        False,
        "ANY_OF_MEMBER_REMOVED",
        True,
        "#/anyOf/1",
    ),
    Rule(
        "all-of-member-added",
        {"allOf": [obj()]},
        {"allOf": [obj(), {"required": ["id"]}]},
        "ALL_OF_MEMBER_ADDED",
        True,
        "ALL_OF_MEMBER_REMOVED",
        False,
        "#/allOf/1",
    ),
    Rule(
        "one-of-to-any-of",
        {"oneOf": [S3, I0]},
        {"anyOf": [S3, I0]},
        "COMBINED_TYPE_EXTENDED",
        False,
        "COMBINED_TYPE_NARROWED",
        True,
        "#/anyOf",
    ),
    Rule(
        "union-members-replaced",
        {"anyOf": [S3, I0]},
        {"anyOf": [{"type": "boolean", "const": True}, {"type": "array", "maxItems": 2}]},
        "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
        True,
        "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
        True,
        "#/anyOf",
    ),
    Rule(
        "union-member-changed-inside",
        {"anyOf": [obj({"a": S}), {"type": "array"}]},
        {"anyOf": [obj({"a": I}), {"type": "array"}]},
        "TYPE_CHANGED",
        True,
        "TYPE_CHANGED",
        True,
        "#/anyOf/0/properties/a",
    ),
    Rule(
        "not-narrowed",
        {"not": S},
        {"not": {"type": "string", "maxLength": 3}},
        "NOT_TYPE_NARROWED",
        False,
        "NOT_TYPE_WIDENED",
        True,
        "#/not",
    ),
    Rule(
        "not-changed",
        {"not": S},
        {"not": I},
        "NOT_TYPE_CHANGED",
        True,
        "NOT_TYPE_CHANGED",
        True,
        "#/not",
    ),
    Rule("not-removed", {"not": S}, {}, "SCHEMA_REMOVED", False, "NOT_ADDED", True),
    Rule(
        "conditional-added",
        obj(),
        obj(**{"if": {"required": ["a"]}, "then": {"required": ["b"]}}),
        "CONDITIONAL_ADDED",
        True,
        "CONDITIONAL_REMOVED",
        False,
        "#/if",
    ),
    # multipleOf, pattern, format, uniqueItems
    Rule(
        "multiple-of-reduced",
        {"multipleOf": 4},
        {"multipleOf": 2},
        "MULTIPLE_OF_REDUCED",
        False,
        "MULTIPLE_OF_EXPANDED",
        True,
    ),
    Rule(
        "multiple-of-decimal",
        {"multipleOf": 0.02},
        {"multipleOf": 0.01},
        "MULTIPLE_OF_REDUCED",
        False,
        "MULTIPLE_OF_EXPANDED",
        True,
    ),
    Rule(
        "multiple-of-changed",
        {"multipleOf": 4},
        {"multipleOf": 3},
        "MULTIPLE_OF_CHANGED",
        True,
        "MULTIPLE_OF_CHANGED",
        True,
    ),
    Rule(
        "multiple-of-removed",
        {"type": "number", "multipleOf": 5},
        {"type": "number"},
        "MULTIPLE_OF_REMOVED",
        False,
        "MULTIPLE_OF_ADDED",
        True,
    ),
    Rule(
        "pattern-removed",
        {"type": "string", "pattern": "^a"},
        S,
        "PATTERN_REMOVED",
        False,
        "PATTERN_ADDED",
        True,
    ),
    Rule(
        "pattern-changed",
        {"pattern": "^a"},
        {"pattern": "^b"},
        "PATTERN_CHANGED",
        True,
        "PATTERN_CHANGED",
        True,
    ),
    Rule(
        "format-removed",
        {"type": "string", "format": "email"},
        S,
        "FORMAT_REMOVED",
        False,
        "FORMAT_ADDED",
        True,
    ),
    Rule(
        "format-widened",
        {"type": "integer", "format": "int32"},
        {"type": "integer", "format": "int64"},
        "FORMAT_EXTENDED",
        False,
        "FORMAT_NARROWED",
        True,
    ),
    Rule(
        "format-changed",
        {"format": "email"},
        {"format": "uri"},
        "FORMAT_CHANGED",
        True,
        "FORMAT_CHANGED",
        True,
    ),
    Rule(
        "unique-items-removed",
        {"type": "array", "uniqueItems": True},
        {"type": "array"},
        "UNIQUE_ITEMS_REMOVED",
        False,
        "UNIQUE_ITEMS_ADDED",
        True,
    ),
    # required
    Rule(
        "required-removed",
        obj({"a": S}, required=["a"]),
        obj({"a": S}),
        "REQUIRED_ATTRIBUTE_REMOVED",
        False,
        "REQUIRED_ATTRIBUTE_ADDED",
        True,
        "#/properties/a",
    ),
    Rule(
        "required-with-default",
        obj({"a": {"type": "string", "default": "x"}}),
        obj({"a": {"type": "string", "default": "x"}}, required=["a"]),
        "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
        False,
        "REQUIRED_ATTRIBUTE_REMOVED",
        False,
        "#/properties/a",
    ),
    # properties and content models
    Rule(
        "property-removed-open",
        obj({"a": S, "b": I}),
        obj({"a": S}),
        "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
        False,
        "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
        True,
        "#/properties/b",
    ),
    Rule(
        "empty-property-added-open",
        obj({"a": S}),
        obj({"a": S, "b": {}}),
        "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
        False,
        "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
        False,
        "#/properties/b",
    ),
    Rule(
        "property-removed-closed",
        obj({"a": S, "b": I}, additionalProperties=False),
        obj({"a": S}, additionalProperties=False),
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        True,
        "PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL",
        False,
        "#/properties/b",
    ),
    Rule(
        "property-removed-covered-by-additional",
        obj({"a": S, "b": {"type": "string", "maxLength": 5}}, additionalProperties=S),
        obj({"a": S}, additionalProperties=S),
        "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        False,
        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        True,
        "#/properties/b",
    ),
    Rule(
        "property-removed-not-covered",
        obj({"a": S, "b": I}, additionalProperties=S),
        obj({"a": S}, additionalProperties=S),
        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        True,
        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        True,
        "#/properties/b",
    ),
    Rule(
        "property-added-covered-by-pattern",
        obj(patternProperties={"^x_": {"type": "string", "maxLength": 3}}),
        obj({"x_a": S}, patternProperties={"^x_": {"type": "string", "maxLength": 3}}),
        "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        False,
        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        True,
        "#/properties/x_a",
    ),
    Rule(
        "additional-properties-opened",
        obj({"a": S}, additionalProperties=False),
        obj({"a": S}, additionalProperties=True),
        "ADDITIONAL_PROPERTIES_EXTENDED",
        False,
        "ADDITIONAL_PROPERTIES_NARROWED",
        True,
        "#/additionalProperties",
    ),
    Rule(
        "additional-properties-schema-dropped",
        obj({"a": S}, additionalProperties=S),
        obj({"a": S}),
        "ADDITIONAL_PROPERTIES_EXTENDED",
        False,
        "ADDITIONAL_PROPERTIES_NARROWED",
        True,
        "#/additionalProperties",
    ),
    Rule(
        "additional-properties-schema-widened",
        obj(additionalProperties=S),
        obj(additionalProperties={"type": ["string", "null"]}),
        "TYPE_EXTENDED",
        False,
        "TYPE_NARROWED",
        True,
        "#/additionalProperties",
    ),
    Rule(
        "pattern-property-added-to-open",
        obj(),
        obj(patternProperties={"^x_": S}),
        "PATTERN_PROPERTY_ADDED",
        True,
        "PATTERN_PROPERTY_REMOVED",
        False,
        "#/patternProperties/^x_",
    ),
    Rule(
        "property-names-added",
        obj(),
        obj(propertyNames={"pattern": "^[a-z]+$"}),
        "PATTERN_ADDED",
        True,
        "SCHEMA_REMOVED",
        False,
        "#/propertyNames",
    ),
    Rule(
        "dependent-required-added",
        obj({"a": S, "b": S}),
        obj({"a": S, "b": S}, dependentRequired={"a": ["b"]}),
        "DEPENDENT_REQUIRED_ADDED",
        True,
        "DEPENDENT_REQUIRED_REMOVED",
        False,
        "#/dependentRequired/a",
    ),
    Rule(
        "nested-property",
        obj({"address": obj({"zip": S})}),
        obj({"address": obj({"zip": I})}),
        "TYPE_CHANGED",
        True,
        "TYPE_CHANGED",
        True,
        "#/properties/address/properties/zip",
    ),
    # whole schemas
    Rule("schema-to-empty", S, {}, "SCHEMA_REMOVED", False, "TYPE_NARROWED", True),
    Rule("schema-to-true", obj({"a": S}), True, "SCHEMA_REMOVED", False, "TYPE_NARROWED", True),
    Rule("schema-to-false", S, False, "FALSE_SCHEMA_ADDED", True, "FALSE_SCHEMA_REMOVED", False),
    # arrays
    Rule(
        "items-widened",
        {"type": "array", "items": S},
        {"type": "array", "items": {"type": ["string", "null"]}},
        "TYPE_EXTENDED",
        False,
        "TYPE_NARROWED",
        True,
        "#/items",
    ),
    Rule(
        "items-added",
        {"type": "array"},
        {"type": "array", "items": S},
        "TYPE_NARROWED",
        True,
        "SCHEMA_REMOVED",
        False,
        "#/items",
    ),
    Rule(
        "tuple-item-added-closed",
        {"type": "array", "prefixItems": [S], "items": False},
        {"type": "array", "prefixItems": [S, I], "items": False},
        "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
        False,
        "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        True,
        "#/prefixItems/1",
    ),
    Rule(
        "tuple-item-added-open",
        {"type": "array", "prefixItems": [S]},
        {"type": "array", "prefixItems": [S, I]},
        "ITEM_ADDED_TO_OPEN_CONTENT_MODEL",
        True,
        "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
        False,
        "#/prefixItems/1",
    ),
    Rule(
        "tuple-item-added-covered",
        {"type": "array", "prefixItems": [S], "items": S},
        {"type": "array", "prefixItems": [S, {"type": ["string", "null"]}], "items": S},
        "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        False,
        "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        True,
        "#/prefixItems/1",
    ),
    Rule(
        "tuple-item-type-changed",
        {"type": "array", "prefixItems": [S]},
        {"type": "array", "prefixItems": [I]},
        "TYPE_CHANGED",
        True,
        "TYPE_CHANGED",
        True,
        "#/prefixItems/0",
    ),
    Rule(
        "draft7-tuple-form",
        {"type": "array", "items": [S], "additionalItems": False},
        {"type": "array", "items": [S, I], "additionalItems": False},
        "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
        False,
        "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        True,
        "#/prefixItems/1",
    ),
    Rule(
        "contains-added",
        {"type": "array"},
        {"type": "array", "contains": S},
        "CONTAINS_ADDED",
        True,
        "CONTAINS_REMOVED",
        False,
    ),
    # annotations
    Rule(
        "default-changed",
        {"type": "string", "default": "a"},
        {"type": "string", "default": "b"},
        "DEFAULT_CHANGED",
        False,
        "DEFAULT_CHANGED",
        False,
    ),
]

UPPER = ["maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties"]
LOWER = ["minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties"]


def _family(keyword: str) -> str:
    return "".join(f"_{ch}" if ch.isupper() else ch.upper() for ch in keyword)


for keyword in UPPER:
    family = _family(keyword)
    RULES += [
        Rule(
            f"{keyword}-raised",
            {keyword: 5},
            {keyword: 10},
            f"{family}_INCREASED",
            False,
            f"{family}_DECREASED",
            True,
        ),
        Rule(
            f"{keyword}-removed",
            {keyword: 5},
            {},
            "SCHEMA_REMOVED",
            False,
            f"{family}_ADDED",
            True,
        ),
        Rule(
            f"{keyword}-removed-keeping-type",
            {"type": "object", keyword: 5},
            {"type": "object"},
            f"{family}_REMOVED",
            False,
            f"{family}_ADDED",
            True,
        ),
    ]
for keyword in LOWER:
    family = _family(keyword)
    RULES += [
        Rule(
            f"{keyword}-lowered",
            {keyword: 5},
            {keyword: 2},
            f"{family}_DECREASED",
            False,
            f"{family}_INCREASED",
            True,
        ),
        Rule(
            f"{keyword}-removed-keeping-type",
            {"type": "object", keyword: 5},
            {"type": "object"},
            f"{family}_REMOVED",
            False,
            f"{family}_ADDED",
            True,
        ),
    ]


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_and_its_reverse(rule: Rule) -> None:
    check(rule.old, rule.new, rule.code, rule.breaking, rule.pointer)
    check(rule.new, rule.old, rule.reverse_code, rule.reverse_breaking)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"type": ["string"]}, S),
        ({"oneOf": [S]}, S),
        ({"anyOf": [{"type": "string", "maxLength": 3}]}, {"type": "string", "maxLength": 3}),
        ({"anyOf": [S, {"type": "null"}]}, {"type": ["string", "null"]}),
        ({"maximum": 10, "exclusiveMaximum": True}, {"exclusiveMaximum": 10}),
        ({"dependencies": {"a": ["b"]}}, {"dependentRequired": {"a": ["b"]}}),
    ],
    ids=["type-list", "one-of", "any-of", "type-union", "draft4-exclusive", "dependencies"],
)
def test_equivalent_spellings_are_no_change(old: Any, new: Any) -> None:
    assert compare(old, new) == []
    assert compare(new, old) == []


def test_maximum_switched_to_exclusive_is_judged_as_one_bound() -> None:
    looser = compare({"exclusiveMaximum": 10}, {"maximum": 10})
    assert [(d.code, d.breaking) for d in looser] == [("MAXIMUM_INCREASED", False)]
    tighter = compare({"maximum": 10}, {"exclusiveMaximum": 10})
    assert [(d.code, d.breaking) for d in tighter] == [("MAXIMUM_DECREASED", True)]


def test_union_member_may_match_several_old_members() -> None:
    # integer and number both fit in the one new member: nothing was lost
    differences = compare({"anyOf": [I, {"type": "number"}]}, {"anyOf": [{"type": "number"}]})
    assert not any(d.breaking for d in differences)


def test_message_names_property_and_consequence() -> None:
    difference = check(obj({"zip": S}), obj({"zip": I}), "TYPE_CHANGED", True, "#/properties/zip")
    assert difference.message == (
        "property 'zip' changed type from string to integer: readers using the new schema "
        "cannot read data written with the old one"
    )


def test_non_breaking_differences_have_no_consequence() -> None:
    difference = check(I, {"type": "number"}, "TYPE_EXTENDED", False)
    assert "cannot read" not in difference.message
    assert difference.severity == "non-breaking"


def test_default_is_info() -> None:
    difference = check({"default": 1}, {"default": 2}, "DEFAULT_CHANGED", False)
    assert difference.severity == "info"


def test_forward_direction_flips_the_verdict_not_the_code() -> None:
    check(I, {"type": "number"}, "TYPE_EXTENDED", True, direction="forward")
    check({"type": "number"}, I, "TYPE_NARROWED", False, direction="forward")
    difference = check(
        {"enum": ["a"]}, {"enum": ["a", "b"]}, "ENUM_EXTENDED", True, direction="forward"
    )
    assert "readers still using the old schema" in difference.message


def test_forward_required_removed_is_cushioned_by_old_default() -> None:
    old = obj({"a": {"type": "string", "default": "x"}}, required=["a"])
    check(
        old,
        obj({"a": {"type": "string", "default": "x"}}),
        "REQUIRED_ATTRIBUTE_REMOVED",
        False,
        direction="forward",
    )
    check(
        obj({"a": S}, required=["a"]),
        obj({"a": S}),
        "REQUIRED_ATTRIBUTE_REMOVED",
        True,
        direction="forward",
    )


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (obj({"a": S}), obj({"a": S, "b": I}), "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"),
        (
            obj({"a": S}),
            obj({"a": S}, additionalProperties=False),
            "ADDITIONAL_PROPERTIES_NARROWED",
        ),
        (obj(additionalProperties=S), obj(additionalProperties=I), "TYPE_CHANGED"),
        (
            obj(additionalProperties=S),
            obj({"b": I}, additionalProperties=S),
            "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        ),
    ],
    ids=["added-to-open", "closed", "additional-schema", "added-not-covered"],
)
def test_lenient_relaxes_undeclared_property_rules(old: Any, new: Any, code: str) -> None:
    check(old, new, code, True)
    check(old, new, code, False, policy="lenient")


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (obj({"a": S}), obj({"a": S}, required=["a"]), "REQUIRED_ATTRIBUTE_ADDED"),
        (obj({"a": S}), obj({"a": I}), "TYPE_CHANGED"),
        (
            obj({"a": S, "b": S}, additionalProperties=False),
            obj({"a": S}, additionalProperties=False),
            "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        ),
        (
            obj({"b": I}, additionalProperties=S),
            obj(additionalProperties=S),
            "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        ),
    ],
    ids=["required", "type", "removed-closed", "removed-not-covered"],
)
def test_lenient_keeps_declared_property_rules(old: Any, new: Any, code: str) -> None:
    check(old, new, code, True, policy="lenient")


def test_property_removed_from_false_schema_in_closed_model_is_compatible() -> None:
    old = obj({"a": S, "gone": False}, additionalProperties=False)
    check(
        old,
        obj({"a": S}, additionalProperties=False),
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        False,
    )


def test_incompatible_types_stop_further_noise() -> None:
    differences = compare({"type": "string", "maxLength": 3}, {"type": "integer", "maximum": 3})
    assert [d.code for d in differences] == ["TYPE_CHANGED"]


def test_compatible_change_lists_every_difference() -> None:
    old = obj({"a": {"type": "string", "maxLength": 5}, "b": I}, required=["a", "b"])
    new = obj({"a": {"type": "string", "maxLength": 9}, "b": {"type": "number"}}, required=["a"])
    differences = compare(old, new)
    assert {d.code for d in differences} == {
        "MAX_LENGTH_INCREASED",
        "TYPE_EXTENDED",
        "REQUIRED_ATTRIBUTE_REMOVED",
    }
    assert not any(d.breaking for d in differences)
    assert by_code(differences, "TYPE_EXTENDED").pointer == "#/properties/b"


def test_direction_and_policy_accept_any_case() -> None:
    check(I, {"type": "number"}, "TYPE_EXTENDED", True, direction="FORWARD", policy="STRICT")
