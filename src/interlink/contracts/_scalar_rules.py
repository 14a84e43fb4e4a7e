"""Rules for keywords that constrain single values: type, enum/const, bounds, pattern, format."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from interlink.contracts._findings import Effect, Finding
from interlink.contracts._keywords import LOWER_BOUNDS, UPPER_BOUNDS, canonical

if TYPE_CHECKING:
    from interlink.contracts.jsonschema_compat import SchemaComparer

Node = dict[str, Any]

#: Format pairs where the second accepts every value of the first (OpenAPI number formats).
_FORMAT_WIDENINGS = frozenset({("int32", "int64"), ("float", "double"), ("int32", "double")})


def type_set(node: Node) -> frozenset[str] | None:
    """The declared types, or ``None`` when any type is allowed."""
    declared = node.get("type")
    if declared is None:
        return None
    return frozenset([declared] if isinstance(declared, str) else declared)


def _covers(types: frozenset[str], name: str) -> bool:
    return name in types or (name == "integer" and "number" in types)


def _names(types: frozenset[str] | set[str]) -> str:
    return " or ".join(sorted(types))


def compare_types(c: SchemaComparer, o: Node, n: Node, ptr: str, out: list[Finding]) -> bool:
    """Emit the type change; return True when no value can satisfy both types."""
    old, new = type_set(o), type_set(n)
    if old == new:
        return False
    if new is None:
        assert old is not None
        text = f"no longer restricts its type (was {_names(old)})"
        c.emit(out, "TYPE_EXTENDED", ptr, text, Effect.WIDEN)
        return False
    if old is None:
        text = f"is now restricted to type {_names(new)} (any type was accepted)"
        c.emit(out, "TYPE_NARROWED", ptr, text, Effect.NARROW)
        return False
    lost = {t for t in old if not _covers(new, t)}
    gained = {t for t in new if not _covers(old, t)}
    if not lost and not gained:
        return False
    shown = f"(type was {_names(old)}, is {_names(new)})"
    if not lost:
        c.emit(
            out, "TYPE_EXTENDED", ptr, f"now also accepts {_names(gained)} {shown}", Effect.WIDEN
        )
    elif not gained:
        c.emit(
            out, "TYPE_NARROWED", ptr, f"no longer accepts {_names(lost)} {shown}", Effect.NARROW
        )
    else:
        text = f"changed type from {_names(old)} to {_names(new)}"
        c.emit(out, "TYPE_CHANGED", ptr, text, Effect.CHANGE)
    shared = [t for t in old if _covers(new, t)] + [t for t in new if _covers(old, t)]
    return not shared


_SCALAR_KEYWORDS = frozenset(
    {
        "enum",
        "const",
        "multipleOf",
        "pattern",
        "format",
        "uniqueItems",
        *UPPER_BOUNDS,
        *LOWER_BOUNDS,
    }
)


def compare_scalars(c: SchemaComparer, o: Node, n: Node, ptr: str, out: list[Finding]) -> None:
    present = _SCALAR_KEYWORDS.intersection(o).union(_SCALAR_KEYWORDS.intersection(n))
    if not present:
        return
    if "enum" in present or "const" in present:
        _compare_values(c, o, n, ptr, out)
    for upper, bounds in ((True, UPPER_BOUNDS), (False, LOWER_BOUNDS)):
        if present.isdisjoint(bounds):
            continue
        # A maximum <-> exclusiveMaximum switch is judged as one bound, not two keywords.
        skip = _RANGES[upper] if _range_switched(c, o, n, upper, ptr, out) else ()
        for keyword, family in bounds.items():
            if keyword in present and keyword not in skip:
                _compare_bound(c, o.get(keyword), n.get(keyword), keyword, family, upper, ptr, out)
    if "multipleOf" in o or "multipleOf" in n:
        _compare_multiple_of(c, o.get("multipleOf"), n.get("multipleOf"), ptr, out)
    if "pattern" in o or "pattern" in n:
        _compare_pattern(c, o.get("pattern"), n.get("pattern"), ptr, out)
    if "format" in o or "format" in n:
        _compare_format(c, o.get("format"), n.get("format"), ptr, out)
    if o.get("uniqueItems") is True and n.get("uniqueItems") is not True:
        text = "no longer requires unique items"
        c.emit(out, "UNIQUE_ITEMS_REMOVED", ptr, text, Effect.WIDEN)
    elif n.get("uniqueItems") is True and o.get("uniqueItems") is not True:
        c.emit(out, "UNIQUE_ITEMS_ADDED", ptr, "now requires unique items", Effect.NARROW)


def _allowed(node: Node) -> tuple[dict[str, Any] | None, bool]:
    """Allowed values by canonical form (``None``: unrestricted), and whether ``const`` set it."""
    values: dict[str, Any] | None = None
    if "enum" in node:
        values = {canonical(v): v for v in node["enum"]}
    if "const" in node:
        key = canonical(node["const"])
        only = {key: node["const"]}
        values = only if values is None else {k: v for k, v in values.items() if k == key}
        return values, "enum" not in node
    return values, False


def _show(values: Any) -> str:
    items = [show(v) for v in values]
    if len(items) > 6:
        items = [*items[:5], f"and {len(items) - 5} more"]
    return ", ".join(items)


def _compare_values(c: SchemaComparer, o: Node, n: Node, ptr: str, out: list[Finding]) -> None:
    old, old_const = _allowed(o)
    new, new_const = _allowed(n)
    only_const = (old_const or old is None) and (new_const or new is None)
    family = "CONST" if only_const else "ENUM"
    if old is None and new is not None:
        text = f"now only allows {_show(new.values())}"
        c.emit(out, f"{family}_ADDED", ptr, text, Effect.NARROW)
        return
    if new is None and old is not None:
        text = f"no longer restricts its values (allowed only {_show(old.values())})"
        c.emit(out, f"{family}_REMOVED", ptr, text, Effect.WIDEN)
        return
    assert old is not None
    assert new is not None
    added = [v for k, v in new.items() if k not in old]
    removed = [v for k, v in old.items() if k not in new]
    if not added and not removed:
        return
    if family == "CONST":
        text = f"changed its constant from {_show(old.values())} to {_show(new.values())}"
        c.emit(out, "CONST_CHANGED", ptr, text, Effect.CHANGE)
    elif not removed:
        c.emit(out, "ENUM_EXTENDED", ptr, f"now also allows {_show(added)}", Effect.WIDEN)
    elif not added:
        c.emit(out, "ENUM_NARROWED", ptr, f"no longer allows {_show(removed)}", Effect.NARROW)
    else:
        text = f"no longer allows {_show(removed)} and now allows {_show(added)}"
        c.emit(out, "ENUM_CHANGED", ptr, text, Effect.CHANGE)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compare_bound(
    c: SchemaComparer,
    old: Any,
    new: Any,
    keyword: str,
    family: str,
    upper: bool,
    ptr: str,
    out: list[Finding],
) -> None:
    if isinstance(old, bool) or isinstance(new, bool) or old == new:
        return
    if old is None:
        text = f"now has {keyword} {_number(new)}"
        c.emit(out, f"{family}_ADDED", ptr, text, Effect.NARROW)
    elif new is None:
        text = f"no longer has {keyword} (was {_number(old)})"
        c.emit(out, f"{family}_REMOVED", ptr, text, Effect.WIDEN)
    elif new > old:
        text = f"raised {keyword} from {_number(old)} to {_number(new)}"
        c.emit(out, f"{family}_INCREASED", ptr, text, Effect.WIDEN if upper else Effect.NARROW)
    else:
        text = f"lowered {keyword} from {_number(old)} to {_number(new)}"
        c.emit(out, f"{family}_DECREASED", ptr, text, Effect.NARROW if upper else Effect.WIDEN)


_RANGES = {True: ("maximum", "exclusiveMaximum"), False: ("minimum", "exclusiveMinimum")}


def _effective(node: Node, upper: bool) -> tuple[Any, bool]:
    """The tightest numeric bound of one side as (value, exclusive)."""
    inclusive, exclusive = _RANGES[upper]
    bounds = [(node[inclusive], False)] if inclusive in node else []
    if exclusive in node:
        bounds.append((node[exclusive], True))
    # upper: smallest value wins, and at a tie the exclusive bound is the tighter one
    if upper:
        return min(bounds, key=lambda b: (b[0], not b[1]))
    return max(bounds, key=lambda b: (b[0], b[1]))


def _range_switched(
    c: SchemaComparer, o: Node, n: Node, upper: bool, ptr: str, out: list[Finding]
) -> bool:
    """Compare ``maximum`` ↔ ``exclusiveMaximum`` switches by the bound they mean.

    Returns whether it handled the pair (the two sides use different keywords).
    """
    keys = _RANGES[upper]
    old_keys = {k for k in keys if k in o}
    new_keys = {k for k in keys if k in n}
    if not old_keys or not new_keys or old_keys == new_keys:
        return False
    old, new = _effective(o, upper), _effective(n, upper)
    if old == new:
        return True
    family = "MAXIMUM" if upper else "MINIMUM"
    if upper:
        looser = new[0] > old[0] or (new[0] == old[0] and old[1] and not new[1])
    else:
        looser = new[0] < old[0] or (new[0] == old[0] and old[1] and not new[1])
    moved = "INCREASED" if looser == upper else "DECREASED"
    sign = "<" if upper else ">"
    shown_old = f"{sign}{'' if old[1] else '='} {_number(old[0])}"
    shown_new = f"{sign}{'' if new[1] else '='} {_number(new[0])}"
    text = f"changed its {'upper' if upper else 'lower'} bound from {shown_old} to {shown_new}"
    c.emit(out, f"{family}_{moved}", ptr, text, Effect.WIDEN if looser else Effect.NARROW)
    return True


def _fraction(value: Any) -> Fraction:
    # repr of a float is its shortest round-trip form, so 0.01 stays exactly 1/100
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def _compare_multiple_of(
    c: SchemaComparer, old: Any, new: Any, ptr: str, out: list[Finding]
) -> None:
    if old == new:
        return
    if old is None:
        c.emit(out, "MULTIPLE_OF_ADDED", ptr, f"now has multipleOf {_number(new)}", Effect.NARROW)
        return
    if new is None:
        text = f"no longer has multipleOf (was {_number(old)})"
        c.emit(out, "MULTIPLE_OF_REMOVED", ptr, text, Effect.WIDEN)
        return
    before, after = _fraction(old), _fraction(new)
    shown = f"multipleOf from {_number(old)} to {_number(new)}"
    if (before / after).denominator == 1:
        text = f"reduced {shown} (every old value is still a multiple)"
        c.emit(out, "MULTIPLE_OF_REDUCED", ptr, text, Effect.WIDEN)
    elif (after / before).denominator == 1:
        c.emit(out, "MULTIPLE_OF_EXPANDED", ptr, f"expanded {shown}", Effect.NARROW)
    else:
        c.emit(out, "MULTIPLE_OF_CHANGED", ptr, f"changed {shown}", Effect.CHANGE)


def _compare_pattern(c: SchemaComparer, old: Any, new: Any, ptr: str, out: list[Finding]) -> None:
    if old == new:
        return
    if old is None:
        c.emit(out, "PATTERN_ADDED", ptr, f"must now match pattern {new!r}", Effect.NARROW)
    elif new is None:
        text = f"no longer has to match pattern {old!r}"
        c.emit(out, "PATTERN_REMOVED", ptr, text, Effect.WIDEN)
    else:
        text = f"changed pattern from {old!r} to {new!r}"
        c.emit(out, "PATTERN_CHANGED", ptr, text, Effect.CHANGE)


def _compare_format(c: SchemaComparer, old: Any, new: Any, ptr: str, out: list[Finding]) -> None:
    if old == new:
        return
    if old is None:
        c.emit(out, "FORMAT_ADDED", ptr, f"must now have format {new!r}", Effect.NARROW)
    elif new is None:
        c.emit(out, "FORMAT_REMOVED", ptr, f"no longer has format {old!r}", Effect.WIDEN)
    elif (old, new) in _FORMAT_WIDENINGS:
        text = f"widened format from {old!r} to {new!r}"
        c.emit(out, "FORMAT_EXTENDED", ptr, text, Effect.WIDEN)
    elif (new, old) in _FORMAT_WIDENINGS:
        text = f"narrowed format from {old!r} to {new!r}"
        c.emit(out, "FORMAT_NARROWED", ptr, text, Effect.NARROW)
    else:
        text = f"changed format from {old!r} to {new!r}"
        c.emit(out, "FORMAT_CHANGED", ptr, text, Effect.CHANGE)


def compare_default(c: SchemaComparer, o: Node, n: Node, ptr: str, out: list[Finding]) -> None:
    """``default`` is an annotation: reported, never breaking on its own."""
    if "default" not in o and "default" not in n:
        return
    if "default" not in o:
        text = f"now has default {show(n['default'])}"
        c.emit(out, "DEFAULT_ADDED", ptr, text, Effect.NONE)
    elif "default" not in n:
        text = f"no longer has a default (was {show(o['default'])})"
        c.emit(out, "DEFAULT_REMOVED", ptr, text, Effect.NONE)
    elif canonical(o["default"]) != canonical(n["default"]):
        text = f"changed default from {show(o['default'])} to {show(n['default'])}"
        c.emit(out, "DEFAULT_CHANGED", ptr, text, Effect.NONE)


def show(value: Any) -> str:
    """A short JSON rendering of a value for messages."""
    try:
        text = json.dumps(value, default=str)
    except (ValueError, RecursionError):
        text = "(a deeply nested value)"
    return text if len(text) <= 60 else text[:57] + "..."
