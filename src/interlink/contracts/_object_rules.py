"""Rules for objects: required, properties under open/closed/partially open content models,
``additionalProperties``, ``patternProperties``, ``propertyNames`` and dependencies."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from interlink.contracts import _pointer
from interlink.contracts._document import Document
from interlink.contracts._findings import Effect, Finding
from interlink.contracts._keywords import accepts_anything, rejects_everything
from interlink.contracts.policy import Direction
from interlink.errors import ContractError

if TYPE_CHECKING:
    from interlink.contracts.jsonschema_compat import SchemaComparer

Node = dict[str, Any]
Model = Literal["open", "closed", "partial"]
Covers = list[tuple[Any, Document]]

_OBJECT_KEYWORDS = frozenset(
    {
        "properties",
        "required",
        "additionalProperties",
        "unevaluatedProperties",
        "patternProperties",
        "propertyNames",
        "dependentRequired",
        "dependentSchemas",
    }
)


def compare_objects(
    c: SchemaComparer,
    o: Node,
    od: Document,
    n: Node,
    nd: Document,
    ptr: str,
    depth: int,
    out: list[Finding],
) -> None:
    if _OBJECT_KEYWORDS.isdisjoint(o) and _OBJECT_KEYWORDS.isdisjoint(n):
        return
    old_props: dict[str, Any] = o.get("properties", {})
    new_props: dict[str, Any] = n.get("properties", {})
    for name, old_sub in old_props.items():
        where = _pointer.join(ptr, "properties", name)
        if name in new_props:
            if c.ignored(old_sub, od, where) or c.ignored(new_props[name], nd, where):
                continue
            out.extend(c.compare(old_sub, od, new_props[name], nd, where, depth + 1))
        elif not c.ignored(old_sub, od, where):
            _removed(c, name, old_sub, od, n, nd, where, depth, out)
    for name, new_sub in new_props.items():
        where = _pointer.join(ptr, "properties", name)
        if name not in old_props and not c.ignored(new_sub, nd, where):
            _added(c, name, o, od, new_sub, nd, where, depth, out)
    _compare_required(c, o, od, n, nd, ptr, out)
    _compare_additional(c, o, od, n, nd, ptr, depth, out)
    _compare_patterns(c, o, od, n, nd, ptr, depth, out)
    if "propertyNames" in o or "propertyNames" in n:
        where = _pointer.join(ptr, "propertyNames")
        old_names, new_names = o.get("propertyNames", True), n.get("propertyNames", True)
        out.extend(c.compare(old_names, od, new_names, nd, where, depth + 1))
    _compare_dependent_required(c, o, n, ptr, out)
    old_deps: dict[str, Any] = o.get("dependentSchemas", {})
    new_deps: dict[str, Any] = n.get("dependentSchemas", {})
    for name in [*old_deps, *(k for k in new_deps if k not in old_deps)]:
        where = _pointer.join(ptr, "dependentSchemas", name)
        old_dep, new_dep = old_deps.get(name, True), new_deps.get(name, True)
        out.extend(c.compare(old_dep, od, new_dep, nd, where, depth + 1))


def _covers(node: Node, doc: Document, name: str, ptr: str) -> Covers:
    """The schemas that judge ``name`` when ``node`` does not declare it."""
    patterns: dict[str, Any] = node.get("patternProperties", {})
    matched = [(sub, doc) for pattern, sub in patterns.items() if _search(pattern, name, ptr)]
    if matched:
        return matched
    rest = node.get("additionalProperties", node.get("unevaluatedProperties", True))
    return [(rest, doc)]


def _search(pattern: str, name: str, ptr: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error as exc:
        where = _pointer.join(ptr, "patternProperties", pattern)
        raise ContractError(f"invalid schema at {where}: bad regular expression: {exc}") from None


def _model(c: SchemaComparer, covers: Covers, ptr: str) -> Model:
    views = [c.resolve(value, doc, ptr)[0] for value, doc in covers]
    if all(accepts_anything(view) for view in views):
        return "open"
    if any(rejects_everything(view) for view in views):
        return "closed"
    return "partial"


def _is_ok(found: list[Finding]) -> bool:
    return not any(f.breaking for f in found)


def _removed(
    c: SchemaComparer,
    name: str,
    old_sub: Any,
    od: Document,
    n: Node,
    nd: Document,
    where: str,
    depth: int,
    out: list[Finding],
) -> None:
    covers = _covers(n, nd, name, where)
    model = _model(c, covers, where)
    if model == "open":
        text = "was removed (the new schema accepts any value under that name)"
        c.emit(
            out, "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", where, text, Effect.WIDEN, relax=True
        )
    elif model == "closed":
        old_view, _ = c.resolve(old_sub, od, where)
        effect = Effect.NONE if rejects_everything(old_view) else Effect.NARROW
        text = "was removed and the new schema does not allow undeclared properties"
        c.emit(out, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", where, text, effect)
    else:
        oks = [_is_ok(c.compare(old_sub, od, v, d, where, depth + 1)) for v, d in covers]
        # BACKWARD: old values must satisfy every covering schema; FORWARD: one suffices.
        ok = all(oks) if c.direction is Direction.BACKWARD else any(oks)
        if ok:
            text = "was removed; its values still match the schema for undeclared properties"
            code = "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
        else:
            text = "was removed and its values do not match the schema for undeclared properties"
            code = "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
        out.append(Finding(code, where, text, not ok))


def _added(
    c: SchemaComparer,
    name: str,
    o: Node,
    od: Document,
    new_sub: Any,
    nd: Document,
    where: str,
    depth: int,
    out: list[Finding],
) -> None:
    covers = _covers(o, od, name, where)
    model = _model(c, covers, where)
    new_view, _ = c.resolve(new_sub, nd, where)
    if model == "open":
        effect = Effect.NONE if accepts_anything(new_view) else Effect.NARROW
        if c.breaks(effect) and not c.lenient:
            text = "was added, but the old schema accepted any value under that name"
        else:
            text = "was added"
        c.emit(out, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", where, text, effect, relax=True)
    elif model == "closed":
        effect = Effect.NONE if rejects_everything(new_view) else Effect.WIDEN
        text = "was added (the old schema did not allow undeclared properties)"
        c.emit(out, "PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL", where, text, effect)
    else:
        oks = [_is_ok(c.compare(v, d, new_sub, nd, where, depth + 1)) for v, d in covers]
        ok = any(oks) if c.direction is Direction.BACKWARD else all(oks)
        if ok:
            text = "was added and accepts what the old schema allowed under that name"
            code = "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            out.append(Finding(code, where, text, False))
        else:
            text = "was added but rejects values the old schema allowed under that name"
            code = "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            out.append(Finding(code, where, text, not c.lenient))


def _has_default(
    c: SchemaComparer, props: dict[str, Any], name: str, doc: Document, where: str
) -> bool:
    if name not in props:
        return False
    view, _ = c.resolve(props[name], doc, where)
    return isinstance(view, dict) and "default" in view


def _compare_required(
    c: SchemaComparer, o: Node, od: Document, n: Node, nd: Document, ptr: str, out: list[Finding]
) -> None:
    old_required: list[str] = o.get("required", [])
    new_required: list[str] = n.get("required", [])
    if old_required == new_required:
        return
    old_props: dict[str, Any] = o.get("properties", {})
    new_props: dict[str, Any] = n.get("properties", {})
    for name in dict.fromkeys(new_required):
        where = _pointer.join(ptr, "properties", name)
        if name in old_required or (name in new_props and c.ignored(new_props[name], nd, where)):
            continue
        if _has_default(c, new_props, name, nd, where):
            text = "is now required; readers fill it in from its default"
            out.append(Finding("REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", where, text, False))
        else:
            c.emit(out, "REQUIRED_ATTRIBUTE_ADDED", where, "is now required", Effect.NARROW)
    for name in dict.fromkeys(old_required):
        where = _pointer.join(ptr, "properties", name)
        if name in new_required or (name in old_props and c.ignored(old_props[name], od, where)):
            continue
        # FORWARD: old readers that still require it cope when their schema has a default.
        cushioned = c.direction is Direction.FORWARD and _has_default(c, old_props, name, od, where)
        effect = Effect.NONE if cushioned else Effect.WIDEN
        c.emit(out, "REQUIRED_ATTRIBUTE_REMOVED", where, "is no longer required", effect)


def _rest(c: SchemaComparer, node: Node, doc: Document, ptr: str) -> tuple[str, Any]:
    """How a schema treats undeclared property names: open, closed or a schema."""
    rest = node.get("additionalProperties", node.get("unevaluatedProperties", True))
    view, _ = c.resolve(rest, doc, ptr)
    if accepts_anything(view):
        return "open", rest
    if rejects_everything(view):
        return "closed", rest
    return "schema", rest


_REST_TEXT = {
    ("closed", "open"): ("EXTENDED", Effect.WIDEN, "are now allowed"),
    ("closed", "schema"): ("EXTENDED", Effect.WIDEN, "are now allowed when they match a schema"),
    ("schema", "open"): ("EXTENDED", Effect.WIDEN, "are now allowed in any shape"),
    ("open", "closed"): ("NARROWED", Effect.NARROW, "are no longer allowed"),
    ("schema", "closed"): ("NARROWED", Effect.NARROW, "are no longer allowed"),
    ("open", "schema"): ("NARROWED", Effect.NARROW, "are now restricted to a schema"),
}


def _compare_additional(
    c: SchemaComparer,
    o: Node,
    od: Document,
    n: Node,
    nd: Document,
    ptr: str,
    depth: int,
    out: list[Finding],
) -> None:
    keys = ("additionalProperties", "unevaluatedProperties")
    if not any(k in o or k in n for k in keys):
        return
    where = _pointer.join(ptr, "additionalProperties")
    old_state, old_rest = _rest(c, o, od, where)
    new_state, new_rest = _rest(c, n, nd, where)
    if old_state == new_state == "schema":
        found = c.compare(old_rest, od, new_rest, nd, where, depth + 1)
        out.extend(_relaxed(c, found))
    elif old_state != new_state:
        change, effect, text = _REST_TEXT[(old_state, new_state)]
        c.emit(out, f"ADDITIONAL_PROPERTIES_{change}", where, text, effect, relax=True)


def _relaxed(c: SchemaComparer, found: list[Finding]) -> list[Finding]:
    """Under ``lenient``, changes to schemas of undeclared names do not break anything."""
    if not c.lenient:
        return found
    return [Finding(f.code, f.pointer, f.text, False) for f in found]


def _compare_patterns(
    c: SchemaComparer,
    o: Node,
    od: Document,
    n: Node,
    nd: Document,
    ptr: str,
    depth: int,
    out: list[Finding],
) -> None:
    old_patterns: dict[str, Any] = o.get("patternProperties", {})
    new_patterns: dict[str, Any] = n.get("patternProperties", {})
    if not old_patterns and not new_patterns:
        return
    for pattern, old_sub in old_patterns.items():
        where = _pointer.join(ptr, "patternProperties", pattern)
        if pattern in new_patterns:
            found = c.compare(old_sub, od, new_patterns[pattern], nd, where, depth + 1)
            out.extend(_relaxed(c, found))
            continue
        state, _ = _rest(c, n, nd, where)
        effect = {"open": Effect.WIDEN, "closed": Effect.NARROW}.get(state, Effect.CHANGE)
        text = "no longer have a schema of their own"
        c.emit(out, "PATTERN_PROPERTY_REMOVED", where, text, effect, relax=True)
    for pattern in new_patterns:
        if pattern in old_patterns:
            continue
        where = _pointer.join(ptr, "patternProperties", pattern)
        state, _ = _rest(c, o, od, where)
        effect = {"open": Effect.NARROW, "closed": Effect.WIDEN}.get(state, Effect.CHANGE)
        text = "now have a schema of their own"
        c.emit(out, "PATTERN_PROPERTY_ADDED", where, text, effect, relax=True)


def _compare_dependent_required(
    c: SchemaComparer, o: Node, n: Node, ptr: str, out: list[Finding]
) -> None:
    old_deps: dict[str, list[str]] = o.get("dependentRequired", {})
    new_deps: dict[str, list[str]] = n.get("dependentRequired", {})
    if old_deps == new_deps:
        return
    for name in dict.fromkeys([*old_deps, *new_deps]):
        where = _pointer.join(ptr, "dependentRequired", name)
        before, after = set(old_deps.get(name, [])), set(new_deps.get(name, []))
        if before == after:
            continue
        if not before:
            code, effect = "DEPENDENT_REQUIRED_ADDED", Effect.NARROW
        elif not after:
            code, effect = "DEPENDENT_REQUIRED_REMOVED", Effect.WIDEN
        elif after > before:
            code, effect = "DEPENDENT_REQUIRED_EXTENDED", Effect.NARROW
        elif after < before:
            code, effect = "DEPENDENT_REQUIRED_NARROWED", Effect.WIDEN
        else:
            code, effect = "DEPENDENT_REQUIRED_CHANGED", Effect.CHANGE
        shown = ", ".join(sorted(after)) or "nothing"
        text = f"now requires {shown} when property {name!r} is present"
        c.emit(out, code, where, text, effect)
