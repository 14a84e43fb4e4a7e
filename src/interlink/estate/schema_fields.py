"""The fields a JSON Schema (an event's, or one under an OpenAPI document's components) declares,
as dotted paths: what `check` compares a PII list, an ordering key or a glossary mapping with,
and what `interlink catalog search` finds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: Keywords whose schemas all describe the same value: their properties are the value's too.
_COMBINED = ("allOf", "anyOf", "oneOf")


def schema_properties(
    node: Any, prefix: str = "", *, root: Any = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Dotted property paths of an object schema, depth first (arrays count as their items).

    Local ``$ref``s (``#/…``) are followed within ``root`` (``node`` itself when not given),
    each at most once along a path, so a recursive schema ends."""
    yield from _walk(node, prefix, node if root is None else root, frozenset())


def _walk(node: Any, prefix: str, root: Any, seen: frozenset[str]) -> Iterator[tuple[str, Any]]:
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#") and ref not in seen:
        yield from _walk(_pointer(root, ref), prefix, root, seen | {ref})
    for keyword in _COMBINED:
        members = node.get(keyword)
        if isinstance(members, list):
            for member in members:
                yield from _walk(member, prefix, root, seen)
    props = node.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            path = f"{prefix}{name}"
            if isinstance(sub, dict):
                yield path, sub
                target = sub.get("items") if sub.get("type") == "array" else sub
                yield from _walk(target, path + ".", root, seen)


def _pointer(root: Any, ref: str) -> Any:
    """What the JSON pointer of a local ``$ref`` points at; None when nothing."""
    node = root
    for raw in ref[1:].split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def openapi_schemas(document: Any) -> dict[str, Any]:
    """The named schemas of an OpenAPI document (``components.schemas``)."""
    components = document.get("components") if isinstance(document, dict) else None
    schemas = components.get("schemas") if isinstance(components, dict) else None
    return schemas if isinstance(schemas, dict) else {}
