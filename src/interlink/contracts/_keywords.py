"""JSON Schema keyword tables and the shape check each schema node gets before comparison."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

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


def is_schema_value(value: Any) -> bool:
    return isinstance(value, dict | bool | Bound)


def accepts_anything(node: Any) -> bool:
    """``true``, ``{}`` or a mapping of annotations only."""
    if node is True:
        return True
    if not isinstance(node, dict):
        return False
    if ANNOTATIONS.issuperset(node):
        return True  # the usual answer, found without a Python-level loop
    return all(key in ANNOTATIONS or key.startswith("x-") for key in node)


def rejects_everything(node: Any) -> bool:
    """``false`` or ``{"not": {}}``."""
    if node is False:
        return True
    return isinstance(node, dict) and "not" in node and accepts_anything(node["not"])


def canonical(value: Any) -> str:
    """A stable text form of a JSON value where ``1`` and ``1.0`` are the same."""
    try:
        return json.dumps(_numbers(value), sort_keys=True, separators=(",", ":"), default=_unwrap)
    except (RecursionError, ValueError, TypeError):
        raise ContractError("a value in the schema is nested too deeply or is not JSON") from None


def _unwrap(value: Any) -> Any:
    if isinstance(value, Bound):
        return _numbers(value.value)
    raise TypeError(type(value).__name__)


def _numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    return value


def same_schema(old: Any, new: Any) -> bool:
    """Whether two subschemas are certainly the same schema wherever they sit.

    True only for equal values without ``$ref`` (whose meaning depends on the document).
    Python's ``==`` equates ``True`` with ``1``, so equal values must also print the same.
    """
    try:
        if old != new:
            return False
        text = json.dumps(old, sort_keys=True)
        return text == json.dumps(new, sort_keys=True) and '"$ref"' not in text
    except (TypeError, ValueError, RecursionError):
        return False  # Bound wrappers or very deep values: compare them the long way


def check_node(node: Any, pointer: str, doc: Document, checked: set[int] | None = None) -> None:
    """Refuse a schema node whose keywords have the wrong shape, naming where it is.

    ``checked`` holds ids of nodes already found well-formed (their documents keep them alive).
    """
    if checked is not None and id(node) in checked:
        return
    problem = node_problem(node)
    if problem is not None:
        suffix, text = problem
        _fail(f"{pointer}/{suffix}" if suffix else pointer, doc, text)
    if checked is not None and isinstance(node, dict):
        checked.add(id(node))


def node_problem(node: Any) -> tuple[str, str] | None:
    """The first malformed keyword of a node as (pointer suffix, explanation), if any."""
    if not isinstance(node, dict):
        if isinstance(node, bool):
            return None
        return "", f"a schema must be an object or a boolean, got {_show(node)}"
    for key, value in node.items():
        check = _CHECKS.get(key)
        if check is None:
            continue
        problem = check(value)
        if problem is not None:
            return _member_problem(key, value) or (
                _pointer.escape(key),
                f"'{key}' {problem}, got {_show(value)}",
            )
    return None


def _member_problem(key: str, value: Any) -> tuple[str, str] | None:
    """Point at the one member of a schema map or list that is not a schema."""
    members: list[tuple[str | int, Any]] = []
    if key in SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
        members = list(value.items())
    elif (key in SCHEMA_LIST_KEYWORDS or key == "items") and isinstance(value, list) and value:
        members = list(enumerate(value))
    for name, member in members:
        if not is_schema_value(member):
            where = f"{_pointer.escape(key)}/{_pointer.escape(str(name))}"
            return where, f"a schema must be an object or a boolean, got {_show(member)}"
    return None


def _schema(value: Any) -> str | None:
    return None if is_schema_value(value) else "must be a schema (object or boolean)"


def _schema_map(value: Any) -> str | None:
    ok = isinstance(value, dict) and all(is_schema_value(v) for v in value.values())
    return None if ok else "must map names to schemas"


def _schema_list(value: Any) -> str | None:
    ok = isinstance(value, list) and bool(value) and all(is_schema_value(v) for v in value)
    return None if ok else "must be a non-empty list of schemas"


def _items(value: Any) -> str | None:
    ok = is_schema_value(value) or (
        isinstance(value, list) and all(is_schema_value(v) for v in value)
    )
    return None if ok else "must be a schema or a list of schemas"


def _count(value: Any) -> str | None:
    return None if _is_count(value) else "must be a non-negative integer"


def _numeric(value: Any) -> str | None:
    return None if _is_number(value) else "must be a number"


def _exclusive(value: Any) -> str | None:
    ok = isinstance(value, bool) or _is_number(value)
    return None if ok else "must be a number (or a boolean in OpenAPI 3.0)"


def _multiple(value: Any) -> str | None:
    return None if _is_number(value) and value > 0 else "must be a number above zero"


def _list(value: Any) -> str | None:
    return None if isinstance(value, list) else "must be a list"


def _required(value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return None if ok else "must be a list of property names"


def _dependent_required(value: Any) -> str | None:
    return None if _is_name_lists(value) else "must map names to lists of property names"


def _dependencies(value: Any) -> str | None:
    ok = isinstance(value, dict) and all(
        is_schema_value(v) or (isinstance(v, list) and all(isinstance(n, str) for n in v))
        for v in value.values()
    )
    return None if ok else "must map names to schemas or lists of property names"


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be a boolean"


def _type_problem(value: Any) -> str | None:
    if isinstance(value, str) and value in TYPE_NAMES:
        return None  # the common case, decided without building lists
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


def _fail(pointer: str, doc: Document, problem: str) -> NoReturn:
    raise ContractError(f"invalid schema at {pointer} in {doc.label}: {problem}")


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "type": _type_problem,
    **dict.fromkeys(SCHEMA_KEYWORDS, _schema),
    **dict.fromkeys(SCHEMA_MAP_KEYWORDS, _schema_map),
    **dict.fromkeys(SCHEMA_LIST_KEYWORDS, _schema_list),
    "items": _items,
    **dict.fromkeys(_COUNTS, _count),
    "maximum": _numeric,
    "minimum": _numeric,
    "exclusiveMaximum": _exclusive,
    "exclusiveMinimum": _exclusive,
    "multipleOf": _multiple,
    "enum": _list,
    "required": _required,
    "dependentRequired": _dependent_required,
    "dependencies": _dependencies,
    **dict.fromkeys(_STRINGS, _string),
    "uniqueItems": _boolean,
}


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


# A path as a linked list (parent, token): extending one is O(1) whatever the depth.
_Path = tuple[Any, str | int] | None


def _spell(path: _Path, suffix: str) -> str:
    tokens: list[str | int] = []
    while path is not None:
        path, token = path
        tokens.append(token)
    where = _pointer.join("#", *reversed(tokens))
    return f"{where}/{suffix}" if suffix else where


def walk_schema(root: Any, doc: Document, limit: int, checked: set[int]) -> None:
    """Check every node of a schema tree up front (iteratively, so depth cannot overflow).

    Pointers are only spelled out for an error, which keeps the walk cheap.
    """
    stack: list[tuple[Any, _Path]] = [(root, None)]
    count = 0
    while stack:
        node, path = stack.pop()
        if isinstance(node, Bound) or id(node) in checked:
            continue
        problem = node_problem(node)
        if problem is not None:
            _fail(_spell(path, problem[0]), doc, problem[1])
        if not isinstance(node, dict):
            continue
        checked.add(id(node))
        count += 1
        if count > limit:
            raise ContractError("schema too large or deeply nested to compare")
        for key, value in node.items():
            if key in SCHEMA_KEYWORDS or (key == "items" and not isinstance(value, list)):
                stack.append((value, (path, key)))
            elif key in SCHEMA_MAP_KEYWORDS:
                here = (path, key)
                stack.extend((sub, (here, name)) for name, sub in value.items())
            elif key in SCHEMA_LIST_KEYWORDS or key == "items":
                here = (path, key)
                stack.extend((sub, (here, i)) for i, sub in enumerate(value))
            elif key == "dependencies":
                here = (path, key)
                stack.extend(
                    (sub, (here, name)) for name, sub in value.items() if not isinstance(sub, list)
                )
