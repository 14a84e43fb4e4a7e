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
    for path, sub, _ in placed_properties(node, prefix, root=root):
        yield path, sub


def placed_properties(
    node: Any, prefix: str = "", *, root: Any = None, at: tuple[str | int, ...] = ()
) -> Iterator[tuple[str, dict[str, Any], tuple[str | int, ...]]]:
    """As :func:`schema_properties`, with where each property is written: its key path in
    ``root`` (in the schema a ``$ref`` points at, when it came through one). ``at`` is where
    ``node`` sits in ``root``."""
    yield from _walk(node, prefix, node if root is None else root, frozenset(), at)


def _walk(
    node: Any, prefix: str, root: Any, seen: frozenset[str], at: tuple[str | int, ...]
) -> Iterator[tuple[str, dict[str, Any], tuple[str | int, ...]]]:
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#") and ref not in seen:
        pointer = _parts(ref)
        yield from _walk(_pointer(root, pointer), prefix, root, seen | {ref}, pointer)
    for keyword in _COMBINED:
        members = node.get(keyword)
        if isinstance(members, list):
            for i, member in enumerate(members):
                yield from _walk(member, prefix, root, seen, (*at, keyword, i))
    props = node.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            path = f"{prefix}{name}"
            if isinstance(sub, dict):
                here = (*at, "properties", name)
                yield path, sub, here
                if sub.get("type") == "array":
                    yield from _walk(sub.get("items"), path + ".", root, seen, (*here, "items"))
                else:
                    yield from _walk(sub, path + ".", root, seen, here)


def _parts(ref: str) -> tuple[str | int, ...]:
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in ref[1:].split("/")[1:])


def _pointer(root: Any, parts: tuple[str | int, ...]) -> Any:
    """What the JSON pointer of a local ``$ref`` points at; None when nothing."""
    node = root
    for part in parts:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def openapi_schemas(document: Any) -> dict[str, Any]:
    """The named schemas of an OpenAPI document (``components.schemas``)."""
    components = document.get("components") if isinstance(document, dict) else None
    schemas = components.get("schemas") if isinstance(components, dict) else None
    return schemas if isinstance(schemas, dict) else {}
