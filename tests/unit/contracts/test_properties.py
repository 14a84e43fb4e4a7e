"""Properties that hold for any schema: self-compatibility and failing only with ContractError."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlink.contracts import compare, diff_openapi
from interlink.contracts.jsonschema_compat import SchemaComparer
from interlink.contracts.policy import Direction, Policy
from interlink.contracts.refs import Resolver
from interlink.errors import ContractError

NAMES = st.sampled_from(["a", "b", "zip", "x_1", "a/b", "t~x", "with space"])
TYPES = st.sampled_from(["string", "integer", "number", "boolean", "object", "array", "null"])
PATTERNS = st.sampled_from(["^a", "[0-9]+", "^x_", "z$"])
FORMATS = st.sampled_from(["email", "date-time", "int32", "int64", "uuid"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
COUNT = st.integers(0, 10)
NUMBER = st.one_of(st.integers(-100, 100), st.floats(-100, 100, allow_nan=False))


def _keywords() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "type": st.one_of(TYPES, st.lists(TYPES, min_size=1, max_size=3, unique=True)),
            "enum": st.lists(SCALARS, min_size=1, max_size=4),
            "const": SCALARS,
            "maxLength": COUNT,
            "minLength": COUNT,
            "maximum": NUMBER,
            "exclusiveMinimum": NUMBER,
            "multipleOf": st.sampled_from([1, 2, 0.5, 3]),
            "pattern": PATTERNS,
            "format": FORMATS,
            "uniqueItems": st.booleans(),
            "maxItems": COUNT,
            "default": SCALARS,
            "nullable": st.booleans(),
        },
    )


def _refs() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(["d0", "d1"]).map(lambda name: {"$ref": f"#/$defs/{name}"})


def _compound(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    members = st.lists(children, min_size=1, max_size=3)
    return st.one_of(
        st.builds(
            lambda props, required, rest, patterns: {
                "type": "object",
                "properties": props,
                "required": [name for name in required if name in props],
                **({"additionalProperties": rest} if rest is not None else {}),
                **({"patternProperties": patterns} if patterns else {}),
            },
            st.dictionaries(NAMES, children, max_size=4),
            st.lists(NAMES, max_size=3, unique=True),
            st.one_of(st.none(), st.booleans(), children),
            st.dictionaries(PATTERNS, children, max_size=1),
        ),
        st.builds(lambda items: {"type": "array", "items": items}, children),
        st.builds(
            lambda prefix, rest: {"type": "array", "prefixItems": prefix, "items": rest},
            members,
            st.one_of(st.booleans(), children),
        ),
        st.builds(lambda m: {"anyOf": m}, members),
        st.builds(lambda m: {"oneOf": m}, members),
        st.builds(lambda m: {"allOf": m}, members),
        st.builds(lambda s: {"not": s}, children),
        st.builds(lambda s, t: {"if": s, "then": t}, children, children),
    )


SCHEMAS = st.recursive(st.one_of(st.booleans(), _keywords(), _refs()), _compound, max_leaves=12)
DOCUMENTS = st.builds(
    lambda root, d0, d1: {"$defs": {"d0": d0, "d1": d1}, "allOf": [root]},
    SCHEMAS,
    SCHEMAS,
    SCHEMAS,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _findings(old: Any, new: Any, direction: Direction, policy: Policy) -> list[Any]:
    resolver = Resolver()
    old_doc = resolver.add_root(old, label="old")
    new_doc = resolver.add_root(new, label="new")
    # skip_equal off: walk every rule instead of stopping at equal subtrees
    comparer = SchemaComparer(resolver, direction=direction, policy=policy, skip_equal=False)
    return comparer.run(old, old_doc, new, new_doc)


@SETTINGS
@given(DOCUMENTS, st.sampled_from(list(Direction)), st.sampled_from(list(Policy)))
def test_a_schema_is_compatible_with_itself(
    schema: Any, direction: Direction, policy: Policy
) -> None:
    try:
        findings = _findings(schema, copy.deepcopy(schema), direction, policy)
    except ContractError:
        return  # e.g. a $ref chain that loops back on itself
    assert not [f for f in findings if f.breaking]
    assert not [d for d in compare(schema, copy.deepcopy(schema)) if d.breaking]


@SETTINGS
@given(DOCUMENTS, DOCUMENTS)
def test_any_two_schemas_compare_or_fail_with_contract_error(old: Any, new: Any) -> None:
    try:
        differences = compare(old, new)
    except ContractError:
        return
    assert all(d.code.isupper() and d.pointer.startswith("#") for d in differences)


KEYWORDS = st.sampled_from(
    [
        "type", "properties", "required", "items", "prefixItems", "anyOf", "oneOf", "allOf",
        "not", "enum", "const", "maxLength", "minimum", "exclusiveMaximum", "multipleOf",
        "pattern", "additionalProperties", "patternProperties", "$ref", "$defs", "dependencies",
        "dependentRequired", "if", "then", "nullable", "format", "default", "contains",
    ]
)  # fmt: skip
JUNK = st.recursive(
    st.one_of(SCALARS, st.floats(allow_nan=True), st.text(max_size=5)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(KEYWORDS, NAMES), children, max_size=4),
    ),
    max_leaves=15,
)


@SETTINGS
@given(JUNK, JUNK)
def test_garbage_fails_only_with_contract_error(old: Any, new: Any) -> None:
    with contextlib.suppress(ContractError):
        compare(old, new)


@SETTINGS
@given(JUNK)
def test_garbage_openapi_fails_only_with_contract_error(paths: Any) -> None:
    old = {"openapi": "3.1.0", "paths": {"/a": {"get": {"responses": {"200": {}}}}}}
    new = {"openapi": "3.1.0", "paths": paths}
    with contextlib.suppress(ContractError):
        diff_openapi(old, new)
    with contextlib.suppress(ContractError):
        diff_openapi(new, old)
