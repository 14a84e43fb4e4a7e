"""JSON Schema keyword tables and the shape check each schema node gets before comparison."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from interlink.contracts import _pointer
from interlink.contracts._document import Bound, Document
from interlink.errors import ContractError

TYPE_NAMES = frozenset({"string", "integer", "number", "boolean", "object", "array", "null"})

#: Keywords whose value is one subschema.
SCHEMA_KEYWORDS = frozenset(
    {
        "additionalProperties",
        "unevaluatedProperties",
        "additionalItems",
        "unevaluatedItems",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
    }
)
#: Keywords whose value maps names to subschemas.
SCHEMA_MAP_KEYWORDS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
#: Keywords whose value is a non-empty list of subschemas.
SCHEMA_LIST_KEYWORDS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})

#: Upper bounds: raising or removing one accepts more values.
UPPER_BOUNDS = {
    "maxLength": "MAX_LENGTH",
    "maximum": "MAXIMUM",
    "exclusiveMaximum": "EXCLUSIVE_MAXIMUM",
    "maxItems": "MAX_ITEMS",
    "maxProperties": "MAX_PROPERTIES",
    "maxContains": "MAX_CONTAINS",
}
#: Lower bounds: lowering or removing one accepts more values.
LOWER_BOUNDS = {
    "minLength": "MIN_LENGTH",
    "minimum": "MINIMUM",
    "exclusiveMinimum": "EXCLUSIVE_MINIMUM",
    "minItems": "MIN_ITEMS",
    "minProperties": "MIN_PROPERTIES",
    "minContains": "MIN_CONTAINS",
}
_COUNTS = frozenset(
    {
        "maxLength",
        "minLength",
        "maxItems",
        "minItems",
        "maxProperties",
        "minProperties",
        "maxContains",
        "minContains",
    }
)

#: Keywords that never restrict which values are valid.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "example",
        "$comment",
        "$id",
        "$schema",
        "$anchor",
        "$dynamicAnchor",
        "$vocabulary",
        "$defs",
        "definitions",
        "deprecated",
        "readOnly",
        "writeOnly",
        "nullable",
        "discriminator",
        "xml",
        "externalDocs",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)

_STRINGS = frozenset({"pattern", "format", "$ref"})
_BOOLEANS = frozenset({"uniqueItems", "nullable", "readOnly", "writeOnly", "deprecated"})


def is_schema_value(value: Any) -> bool:
    return isinstance(value, dict | bool | Bound)


def accepts_anything(node: Any) -> bool:
    """``true``, ``{}`` or a mapping of annotations only."""
    if node is True:
        return True
    if not isinstance(node, dict):
        return False
    return all(key in ANNOTATIONS or key.startswith("x-") for key in node)


def rejects_everything(node: Any) -> bool:
    """``false`` or ``{"not": {}}``."""
    if node is False:
        return True
    return isinstance(node, dict) and accepts_anything(node.get("not", False))


def canonical(value: Any) -> str:
    """A stable text form of a JSON value where ``1`` and ``1.0`` are the same."""
    try:
        return json.dumps(_numbers(value), sort_keys=True, separators=(",", ":"))
    except (RecursionError, ValueError, TypeError):
        raise ContractError("a value in the schema is nested too deeply or is not JSON") from None


def _numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    return value


def check_node(node: Any, pointer: str, doc: Document) -> None:
    """Refuse a schema node whose keywords have the wrong shape, naming where it is."""
    if not isinstance(node, dict):
        if isinstance(node, bool):
            return
        _fail(pointer, doc, f"a schema must be an object or a boolean, got {_show(node)}")
    for key, value in node.items():
        if key.startswith("x-") or (key in ANNOTATIONS and key not in SCHEMA_MAP_KEYWORDS):
            continue
        problem = _keyword_problem(key, value)
        if problem is not None:
            _fail(_pointer.join(pointer, key), doc, f"'{key}' {problem}, got {_show(value)}")


def _keyword_problem(key: str, value: Any) -> str | None:
    if key == "type":
        return _type_problem(value)
    if key in SCHEMA_KEYWORDS:
        return None if is_schema_value(value) else "must be a schema (object or boolean)"
    if key in SCHEMA_MAP_KEYWORDS:
        ok = isinstance(value, dict) and all(is_schema_value(v) for v in value.values())
        return None if ok else "must map names to schemas"
    if key in SCHEMA_LIST_KEYWORDS:
        ok = isinstance(value, list) and bool(value) and all(is_schema_value(v) for v in value)
        return None if ok else "must be a non-empty list of schemas"
    if key == "items":
        ok = is_schema_value(value) or (
            isinstance(value, list) and all(is_schema_value(v) for v in value)
        )
        return None if ok else "must be a schema or a list of schemas"
    if key in _COUNTS:
        return None if _is_count(value) else "must be a non-negative integer"
    if key in ("maximum", "minimum"):
        return None if _is_number(value) else "must be a number"
    if key in ("exclusiveMaximum", "exclusiveMinimum"):
        ok = isinstance(value, bool) or _is_number(value)
        return None if ok else "must be a number (or a boolean in OpenAPI 3.0)"
    if key == "multipleOf":
        return None if _is_number(value) and value > 0 else "must be a number above zero"
    if key in ("enum", "examples"):
        return None if isinstance(value, list) else "must be a list"
    if key == "required":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "must be a list of property names"
    if key == "dependentRequired":
        return None if _is_name_lists(value) else "must map names to lists of property names"
    if key == "dependencies":
        ok = isinstance(value, dict) and all(
            is_schema_value(v) or (isinstance(v, list) and all(isinstance(n, str) for n in v))
            for v in value.values()
        )
        return None if ok else "must map names to schemas or lists of property names"
    if key in _STRINGS:
        return None if isinstance(value, str) else "must be a string"
    if key in _BOOLEANS:
        return None if isinstance(value, bool) else "must be a boolean"
    return None


def _type_problem(value: Any) -> str | None:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return "must be a type name or a list of type names"
    unknown = [n for n in names if n not in TYPE_NAMES]
    if unknown:
        return f"names unknown type '{unknown[0]}' (known: {', '.join(sorted(TYPE_NAMES))})"
    return None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _is_count(value: Any) -> bool:
    if not _is_number(value):
        return False
    return bool(value >= 0 and float(value).is_integer())


def _is_name_lists(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, list) and all(isinstance(n, str) for n in v) for v in value.values()
    )


def _show(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(pointer: str, doc: Document, problem: str) -> None:
    raise ContractError(f"invalid schema at {pointer} in {doc.label}: {problem}")


def rebind(node: Mapping[str, Any], source: Document, target: Document) -> dict[str, Any]:
    """Copy ``node`` for use inside a mapping read against ``target``.

    Subschemas are wrapped in :class:`Bound` when the documents differ so their ``$ref``\\ s
    keep resolving against ``source``.
    """
    if source is target:
        return dict(node)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in SCHEMA_KEYWORDS or (key == "items" and not isinstance(value, list)):
            out[key] = Bound(value, source)
        elif key in SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {name: Bound(sub, source) for name, sub in value.items()}
        elif (key in SCHEMA_LIST_KEYWORDS or key == "items") and isinstance(value, list):
            out[key] = [Bound(sub, source) for sub in value]
        elif key == "dependencies" and isinstance(value, dict):
            out[key] = {
                name: sub if isinstance(sub, list) else Bound(sub, source)
                for name, sub in value.items()
            }
        else:
            out[key] = value
    return out


def walk_schema(root: Any, pointer: str, doc: Document, limit: int) -> None:
    """Check every node of a schema tree up front (iteratively, so depth cannot overflow)."""
    stack: list[tuple[Any, str]] = [(root, pointer)]
    seen: set[int] = set()
    count = 0
    while stack:
        node, where = stack.pop()
        if isinstance(node, Bound) or id(node) in seen:
            continue
        check_node(node, where, doc)
        if not isinstance(node, dict):
            continue
        seen.add(id(node))
        count += 1
        if count > limit:
            raise ContractError("schema too large or deeply nested to compare")
        for key, value in node.items():
            if key in SCHEMA_KEYWORDS or (key == "items" and not isinstance(value, list)):
                stack.append((value, _pointer.join(where, key)))
            elif key in SCHEMA_MAP_KEYWORDS:
                stack.extend((sub, _pointer.join(where, key, name)) for name, sub in value.items())
            elif key in SCHEMA_LIST_KEYWORDS or key == "items":
                stack.extend((sub, _pointer.join(where, key, i)) for i, sub in enumerate(value))
            elif key == "dependencies":
                stack.extend(
                    (sub, _pointer.join(where, key, name))
                    for name, sub in value.items()
                    if not isinstance(sub, list)
                )
