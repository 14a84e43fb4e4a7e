"""One canonical reading of a schema node before it is compared.

Spellings that mean the same thing are folded together so the rules see one form:

* OpenAPI 3.0 ``nullable: true`` becomes ``null`` in the type list;
* draft-4 / OpenAPI 3.0 boolean ``exclusiveMaximum``/``exclusiveMinimum`` become numbers;
* draft-7 ``items: [..]`` + ``additionalItems`` become ``prefixItems`` + ``items``;
* ``dependencies`` splits into ``dependentRequired`` and ``dependentSchemas``;
* a one-member ``anyOf``/``oneOf`` is its member, and a union of bare types is a type list;
* with ``merge_all_of`` (OpenAPI), ``allOf`` members are merged into one schema, which is how
  API descriptions use ``allOf`` (composition), so changes show up property by property.
"""

from __future__ import annotations

from typing import Any

from interlink.contracts._document import Document
from interlink.contracts._keywords import (
    LOWER_BOUNDS,
    SCHEMA_MAP_KEYWORDS,
    UPPER_BOUNDS,
    canonical,
    check_node,
    rebind,
    rejects_everything,
)
from interlink.contracts.refs import Resolver
from interlink.errors import ContractError

View = dict[str, Any] | bool

_TRIGGERS = frozenset(
    {
        "nullable",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "items",
        "additionalItems",
        "dependencies",
        "anyOf",
        "oneOf",
    }
)
_SPELLINGS = ("items", "exclusiveMaximum", "exclusiveMinimum")
#: How deeply ``allOf``/union members may nest inside each other while being merged.
MAX_MERGE_DEPTH = 32


class Normalizer:
    """Builds (and remembers) the canonical view of schema nodes for one comparison."""

    def __init__(self, resolver: Resolver, *, merge_all_of: bool) -> None:
        self._resolver = resolver
        self._merge_all_of = merge_all_of
        # id -> (node, view): the node is kept alive so its id cannot be reused.
        self._views: dict[int, tuple[Any, View]] = {}
        self._active: set[str] = set()
        self._building: set[int] = set()

    def view(
        self, node: dict[str, Any] | bool, doc: Document, pointer: str, depth: int = 0
    ) -> View:
        """The canonical form of an already dereferenced ``node``."""
        if isinstance(node, bool):
            return node
        cached = self._views.get(id(node))
        if cached is not None:
            return cached[1]
        check_node(node, pointer, doc, self._resolver.checked)
        if not self._needs_work(node):
            # Cached too: holding the node keeps its id, which `checked` relies on, unique.
            self._views[id(node)] = (node, node)
            return node
        if id(node) in self._building:
            return node  # a member that contains its own schema: read it as written
        self._building.add(id(node))
        try:
            result = self._build(node, doc, pointer, depth)
        finally:
            self._building.discard(id(node))
        self._views[id(node)] = (node, result)
        if isinstance(result, dict):
            # A view read again is itself: comparing it must not build (and name) a new one.
            self._views[id(result)] = (result, result)
        return result

    def _needs_work(self, node: dict[str, Any]) -> bool:
        if self._merge_all_of and "allOf" in node:
            return True
        if _TRIGGERS.isdisjoint(node):
            return False
        # `items` and the exclusive bounds only need work in their older spellings
        return any(
            key in node for key in ("nullable", "additionalItems", "dependencies", "anyOf", "oneOf")
        ) or any(isinstance(node.get(key), list | bool) for key in _SPELLINGS)

    def _build(self, node: dict[str, Any], doc: Document, pointer: str, depth: int) -> View:
        if depth > MAX_MERGE_DEPTH:
            raise ContractError("schema too large or deeply nested to compare")
        out = dict(node)
        _fold_nullable(out)
        _fold_exclusive(out, "exclusiveMaximum", "maximum")
        _fold_exclusive(out, "exclusiveMinimum", "minimum")
        _fold_items(out)
        _fold_dependencies(out)
        result: View = out
        for keyword in ("anyOf", "oneOf"):
            if isinstance(result, dict) and keyword in result:
                result = self._fold_union(result, keyword, doc, pointer, depth)
        if self._merge_all_of and isinstance(result, dict) and "allOf" in result:
            members = result.pop("allOf")
            for index, member in enumerate(members):
                if not isinstance(result, dict):
                    break
                result = self._merge_member(result, doc, member, f"{pointer}/allOf/{index}", depth)
        return result

    def _fold_union(
        self, node: dict[str, Any], keyword: str, doc: Document, pointer: str, depth: int
    ) -> View:
        members = node[keyword]
        if len(members) == 1:
            rest = {k: v for k, v in node.items() if k != keyword}
            return self._merge_member(rest, doc, members[0], f"{pointer}/{keyword}/0", depth)
        if "type" in node:
            return node
        names: list[str] = []
        for index, member in enumerate(members):
            value, member_doc, _ = self._resolver.deref(member, doc)
            seen = self.view(value, member_doc, f"{pointer}/{keyword}/{index}", depth + 1)
            if not (isinstance(seen, dict) and set(seen) == {"type"}):
                return node
            types = seen["type"]
            names.extend(
                t for t in ([types] if isinstance(types, str) else types) if t not in names
            )
        # A union of bare types is a type list; compare it as one.
        out = {k: v for k, v in node.items() if k != keyword}
        out["type"] = names
        return out

    def _merge_member(
        self, base: dict[str, Any], doc: Document, member: Any, pointer: str, depth: int
    ) -> View:
        value, member_doc, key = self._resolver.deref(member, doc)
        if key is not None and key in self._active:
            return base  # a member that (indirectly) contains itself adds nothing new
        if key is not None:
            self._active.add(key)
        try:
            seen = self.view(value, member_doc, pointer, depth + 1)
        finally:
            if key is not None:
                self._active.discard(key)
        if seen is True:
            return base
        if seen is False or rejects_everything(seen):
            return False
        return merge(base, rebind(seen, member_doc, doc))


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:  # noqa: C901 - one branch per keyword allOf merges
    """The conjunction of two schemas of one document, as one schema (approximately).

    Exact where API descriptions use ``allOf``: properties and required lists add up, types and
    enums intersect, bounds take the tighter value. Conflicting subschemas become an ``allOf``.
    """
    out = dict(base)
    for key, value in extra.items():
        if key not in out:
            out[key] = value
            continue
        current = out[key]
        if key == "type":
            out[key] = _intersect_types(current, value)
        elif key == "required":
            out[key] = [*current, *(name for name in value if name not in current)]
        elif key in SCHEMA_MAP_KEYWORDS:
            merged = dict(current)
            for name, sub in value.items():
                merged[name] = sub if name not in merged else _both(merged[name], sub)
            out[key] = merged
        elif key == "enum":
            allowed = {canonical(v) for v in value}
            out[key] = [v for v in current if canonical(v) in allowed]
        elif key in UPPER_BOUNDS and not isinstance(value, bool):
            out[key] = min(current, value)
        elif key in LOWER_BOUNDS and not isinstance(value, bool):
            out[key] = max(current, value)
        elif key == "allOf":
            out[key] = [*current, *value]
        elif key in ("additionalProperties", "items", "contains", "propertyNames", "not"):
            out[key] = _both(current, value)
        elif key == "uniqueItems":
            out[key] = bool(current) or bool(value)
    return out


def _both(first: Any, second: Any) -> Any:
    if first is second or first is True:
        return second
    if second is True:
        return first
    if first is False or second is False:
        return False
    return {"allOf": [first, second]}


def _intersect_types(first: Any, second: Any) -> list[str]:
    a = {first} if isinstance(first, str) else set(first)
    b = {second} if isinstance(second, str) else set(second)
    out = a & b
    # integer is a number: {number} ∩ {integer} = {integer}
    if ("number" in a and "integer" in b) or ("integer" in a and "number" in b):
        out.add("integer")
    return sorted(out)


def _fold_nullable(node: dict[str, Any]) -> None:
    nullable = node.pop("nullable", None)
    if nullable is True and "type" in node:
        types = node["type"]
        names = [types] if isinstance(types, str) else list(types)
        if "null" not in names:
            node["type"] = [*names, "null"]


def _fold_exclusive(node: dict[str, Any], keyword: str, inclusive: str) -> None:
    flag = node.get(keyword)
    if not isinstance(flag, bool):
        return
    del node[keyword]
    if flag and inclusive in node:
        node[keyword] = node.pop(inclusive)


def _fold_items(node: dict[str, Any]) -> None:
    items = node.get("items")
    rest = node.pop("additionalItems", None)
    if isinstance(items, list) and "prefixItems" not in node:
        node["prefixItems"] = items
        if rest is None:
            del node["items"]
        else:
            node["items"] = rest
    elif isinstance(items, list):
        del node["items"]


def _fold_dependencies(node: dict[str, Any]) -> None:
    dependencies = node.pop("dependencies", None)
    if not dependencies:
        return
    required = dict(node.get("dependentRequired", {}))
    schemas = dict(node.get("dependentSchemas", {}))
    for name, value in dependencies.items():
        if isinstance(value, list):
            required[name] = value
        else:
            schemas[name] = value
    if required:
        node["dependentRequired"] = required
    if schemas:
        node["dependentSchemas"] = schemas
