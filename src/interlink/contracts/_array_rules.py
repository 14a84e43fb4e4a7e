"""Rules for arrays: ``items``, tuples (``prefixItems``) under their content model, ``contains``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlink.contracts import _pointer
from interlink.contracts._document import Document
from interlink.contracts._findings import Effect, Finding
from interlink.contracts._keywords import accepts_anything, rejects_everything

if TYPE_CHECKING:
    from interlink.contracts.jsonschema_compat import SchemaComparer

Node = dict[str, Any]


def compare_arrays(
    c: SchemaComparer,
    o: Node,
    od: Document,
    n: Node,
    nd: Document,
    ptr: str,
    depth: int,
    out: list[Finding],
) -> None:
    if "prefixItems" in o or "prefixItems" in n:
        _compare_tuple(c, o, od, n, nd, ptr, depth, out)
    if "items" in o or "items" in n:
        where = _pointer.join(ptr, "items")
        out.extend(c.compare(o.get("items", True), od, n.get("items", True), nd, where, depth + 1))
    if "contains" in o or "contains" in n:
        _compare_contains(c, o, od, n, nd, ptr, depth, out)


def _compare_tuple(
    c: SchemaComparer,
    o: Node,
    od: Document,
    n: Node,
    nd: Document,
    ptr: str,
    depth: int,
    out: list[Finding],
) -> None:
    old_items: list[Any] = o.get("prefixItems", [])
    new_items: list[Any] = n.get("prefixItems", [])
    for index in range(min(len(old_items), len(new_items))):
        where = _pointer.join(ptr, "prefixItems", index)
        out.extend(c.compare(old_items[index], od, new_items[index], nd, where, depth + 1))
    # Positions past the shorter tuple are judged by the other side's `items` (the rest).
    for index in range(len(new_items), len(old_items)):
        where = _pointer.join(ptr, "prefixItems", index)
        _position_removed(c, old_items[index], od, n.get("items", True), nd, where, depth, out)
    for index in range(len(old_items), len(new_items)):
        where = _pointer.join(ptr, "prefixItems", index)
        _position_added(c, o.get("items", True), od, new_items[index], nd, where, depth, out)


def _position_removed(
    c: SchemaComparer,
    old_item: Any,
    od: Document,
    rest: Any,
    nd: Document,
    where: str,
    depth: int,
    out: list[Finding],
) -> None:
    rest_view, _ = c.resolve(rest, nd, where)
    if accepts_anything(rest_view):
        text = "was removed from the tuple (the new schema accepts any value there)"
        c.emit(out, "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", where, text, Effect.WIDEN)
    elif rejects_everything(rest_view):
        old_view, _ = c.resolve(old_item, od, where)
        effect = Effect.NONE if rejects_everything(old_view) else Effect.NARROW
        text = "was removed from the tuple and the new schema allows no further items"
        c.emit(out, "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", where, text, effect)
    else:
        found = c.compare(old_item, od, rest, nd, where, depth + 1)
        ok = not any(f.breaking for f in found)
        if ok:
            code = "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            text = "was removed from the tuple; its values still match the schema for further items"
        else:
            code = "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            text = (
                "was removed from the tuple and its values do not match the schema for "
                "further items"
            )
        out.append(Finding(code, where, text, not ok))


def _position_added(
    c: SchemaComparer,
    rest: Any,
    od: Document,
    new_item: Any,
    nd: Document,
    where: str,
    depth: int,
    out: list[Finding],
) -> None:
    rest_view, _ = c.resolve(rest, od, where)
    new_view, _ = c.resolve(new_item, nd, where)
    if accepts_anything(rest_view):
        effect = Effect.NONE if accepts_anything(new_view) else Effect.NARROW
        text = "was added to the tuple, but the old schema accepted any value there"
        c.emit(out, "ITEM_ADDED_TO_OPEN_CONTENT_MODEL", where, text, effect)
    elif rejects_everything(rest_view):
        effect = Effect.NONE if rejects_everything(new_view) else Effect.WIDEN
        text = "was added to the tuple (the old schema allowed no further items)"
        c.emit(out, "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", where, text, effect)
    else:
        found = c.compare(rest, od, new_item, nd, where, depth + 1)
        ok = not any(f.breaking for f in found)
        if ok:
            code = "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            text = "was added to the tuple and accepts what the old schema allowed there"
        else:
            code = "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            text = "was added to the tuple but rejects values the old schema allowed there"
        out.append(Finding(code, where, text, not ok))


def _compare_contains(
    c: SchemaComparer,
    o: Node,
    od: Document,
    n: Node,
    nd: Document,
    ptr: str,
    depth: int,
    out: list[Finding],
) -> None:
    where = _pointer.join(ptr, "contains")
    if "contains" not in o:
        c.emit(out, "CONTAINS_ADDED", ptr, "must now contain a matching item", Effect.NARROW)
    elif "contains" not in n:
        text = "no longer has to contain a matching item"
        c.emit(out, "CONTAINS_REMOVED", ptr, text, Effect.WIDEN)
    else:
        out.extend(c.compare(o["contains"], od, n["contains"], nd, where, depth + 1))
