"""Rules for ``anyOf``/``oneOf`` (sums), ``allOf`` (products), ``not`` and conditionals.

Members are matched by compatibility rather than position: for every member of one side the
comparison looks for a member of the other side it is compatible with (a changed ``required``
list inside a member is then reported inside that member). What must be matched follows from
the direction: BACKWARD needs every old ``anyOf`` member accepted by some new one, and every
new ``allOf`` member implied by some old one; FORWARD the reverse. Exclusivity of ``oneOf`` is
not modelled: it is compared like ``anyOf``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlink.contracts import _pointer
from interlink.contracts._document import Document
from interlink.contracts._findings import Effect, Finding
from interlink.contracts._keywords import accepts_anything, canonical

if TYPE_CHECKING:
    from interlink.contracts.jsonschema_compat import SchemaComparer

Node = dict[str, Any]
Member = tuple[Any, Document, str]

_GROUPS: tuple[tuple[str, ...], ...] = (("anyOf", "oneOf"), ("allOf",))
_CODES = {"anyOf": "ANY_OF", "oneOf": "ONE_OF", "allOf": "ALL_OF"}
_COMBINATORS = frozenset(_CODES)
_ALL_KEYWORDS = frozenset({*_CODES, "not", "if", "then", "else"})


def _keyword(node: Node, group: tuple[str, ...]) -> str | None:
    return next((k for k in group if k in node), None)


def compare_wrapped(
    c: SchemaComparer,
    o: Node,
    od: Document,
    n: Node,
    nd: Document,
    ptr: str,
    depth: int,
    out: list[Finding],
) -> bool:
    """Handle a bare combinator facing a plain schema; return whether it did.

    ``{type: string}`` → ``{anyOf: [{type: string}, {type: null}]}`` compares the plain side as
    the single member of a one-member combinator, so it reads "member added", not "type
    removed".
    """
    if _COMBINATORS.isdisjoint(o) and _COMBINATORS.isdisjoint(n):
        return False
    for group in _GROUPS:
        old_kw, new_kw = _keyword(o, group), _keyword(n, group)
        if (old_kw is None) == (new_kw is None):
            continue
        kw = new_kw or old_kw
        assert kw is not None
        side = n if new_kw else o
        if not accepts_anything({k: v for k, v in side.items() if k != kw}):
            continue
        if new_kw:
            olds: list[Member] = [(o, od, ptr)]
            news = _members(n, nd, new_kw, ptr)
        else:
            olds, news = _members(o, od, kw, ptr), [(n, nd, ptr)]
        _match(c, kw, olds, news, ptr, depth, out)
        return True
    return False


def _members(node: Node, doc: Document, kw: str, ptr: str) -> list[Member]:
    return [(sub, doc, _pointer.join(ptr, kw, i)) for i, sub in enumerate(node[kw])]


def compare_combinators(
    c: SchemaComparer,
    o: Node,
    od: Document,
    n: Node,
    nd: Document,
    ptr: str,
    depth: int,
    out: list[Finding],
) -> None:
    if _ALL_KEYWORDS.isdisjoint(o) and _ALL_KEYWORDS.isdisjoint(n):
        return
    if "allOf" in o or "allOf" in n:
        olds = _members(o, od, "allOf", ptr) if "allOf" in o else []
        news = _members(n, nd, "allOf", ptr) if "allOf" in n else []
        _match(c, "allOf", olds, news, ptr, depth, out)
    old_sum, new_sum = _keyword(o, _GROUPS[0]), _keyword(n, _GROUPS[0])
    if old_sum and new_sum:
        if old_sum != new_sum:
            where = _pointer.join(ptr, new_sum)
            if new_sum == "anyOf":
                text = "changed oneOf to anyOf (a value may now match several members)"
                c.emit(out, "COMBINED_TYPE_EXTENDED", where, text, Effect.WIDEN)
            else:
                text = "changed anyOf to oneOf (a value must now match exactly one member)"
                c.emit(out, "COMBINED_TYPE_NARROWED", where, text, Effect.NARROW)
        olds, news = _members(o, od, old_sum, ptr), _members(n, nd, new_sum, ptr)
        _match(c, new_sum, olds, news, ptr, depth, out)
    elif old_sum or new_sum:
        # The other side has constraints besides the union: compare it as one member.
        kw = new_sum or old_sum
        assert kw is not None
        if new_sum:
            _match(c, kw, [(o, od, ptr)], _members(n, nd, kw, ptr), ptr, depth, out)
        else:
            _match(c, kw, _members(o, od, kw, ptr), [(n, nd, ptr)], ptr, depth, out)
    if "not" in o or "not" in n:
        _compare_not(c, o, od, n, nd, ptr, depth, out)
    if any(k in o or k in n for k in ("if", "then", "else")):
        _compare_conditional(c, o, n, ptr, out)


def _match(  # noqa: C901 - pairs oneOf/anyOf members, one case per rule
    c: SchemaComparer,
    kw: str,
    olds: list[Member],
    news: list[Member],
    ptr: str,
    depth: int,
    out: list[Finding],
) -> None:
    results: dict[tuple[int, int], list[Finding]] = {}

    def result(i: int, j: int) -> list[Finding]:
        if (i, j) not in results:
            old, old_doc, _ = olds[i]
            new, new_doc, where = news[j]
            results[(i, j)] = c.compare(old, old_doc, new, new_doc, where, depth + 1)
        return results[(i, j)]

    def best(pairs: list[tuple[int, int]]) -> tuple[int, int] | None:
        chosen: tuple[int, int] | None = None
        for pair in pairs:
            found = result(*pair)
            if any(f.breaking for f in found):
                continue
            if chosen is None or len(found) < len(results[chosen]):
                chosen = pair
            if not found:
                break  # identical: nothing better exists
        return chosen

    # Same position first: unchanged lists then cost one comparison per member.
    by_old: dict[int, tuple[int, int]] = {}
    for i in range(len(olds)):
        order = [i] if i < len(news) else []
        order += [j for j in range(len(news)) if j != i]
        pair = best([(i, j) for j in order])
        if pair is not None:
            by_old[i] = pair
    linked_new = {j for _, j in by_old.values()}
    by_new: dict[int, tuple[int, int]] = {}
    for j in range(len(news)):
        if j in linked_new:
            continue
        pair = best([(i, j) for i in range(len(olds))])
        if pair is not None:
            by_new[j] = pair
    shown: set[tuple[int, int]] = set()
    for pair in [*by_old.values(), *by_new.values()]:
        if pair not in shown:
            shown.add(pair)
            out.extend(results[pair])  # compatible changes inside a matched member
    left_old = [i for i in range(len(olds)) if i not in by_old]
    left_new = [j for j in range(len(news)) if j not in linked_new and j not in by_new]
    _report_unmatched(c, kw, olds, news, left_old, left_new, result, ptr, out)


def _report_unmatched(
    c: SchemaComparer,
    kw: str,
    olds: list[Member],
    news: list[Member],
    left_old: list[int],
    left_new: list[int],
    result: Any,
    ptr: str,
    out: list[Finding],
) -> None:
    code = _CODES[kw]
    is_sum = kw != "allOf"
    if len(left_old) == 1 and len(left_new) == 1:
        # One member on each side without a partner: one member changed; say how.
        out.extend(result(left_old[0], left_new[0]))
        return
    if left_old and left_new:
        listed = ", ".join(str(i + 1) for i in left_old)
        text = f"changed its {kw} members so that old member(s) {listed} match no new member"
        where = _pointer.join(ptr, kw)
        c.emit(out, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", where, text, Effect.CHANGE)
        return
    for i in left_old:
        effect = Effect.NARROW if is_sum else Effect.WIDEN
        c.emit(out, f"{code}_MEMBER_REMOVED", olds[i][2], "was removed", effect)
    for j in left_new:
        effect = Effect.WIDEN if is_sum else Effect.NARROW
        c.emit(out, f"{code}_MEMBER_ADDED", news[j][2], "was added", effect)


def _compare_not(
    c: SchemaComparer,
    o: Node,
    od: Document,
    n: Node,
    nd: Document,
    ptr: str,
    depth: int,
    out: list[Finding],
) -> None:
    where = _pointer.join(ptr, "not")
    if "not" not in o:
        text = "now excludes the values its 'not' schema matches"
        c.emit(out, "NOT_ADDED", where, text, Effect.NARROW)
        return
    if "not" not in n:
        text = "no longer excludes the values its 'not' schema matched"
        c.emit(out, "NOT_REMOVED", where, text, Effect.WIDEN)
        return
    old_not, new_not = o["not"], n["not"]
    widened = c.accepts_all_of(new_not, nd, old_not, od, where, depth + 1)
    narrowed = c.accepts_all_of(old_not, od, new_not, nd, where, depth + 1)
    if widened and narrowed:
        return
    if widened:
        text = "excludes more values: its 'not' schema was widened"
        c.emit(out, "NOT_TYPE_WIDENED", where, text, Effect.NARROW)
    elif narrowed:
        text = "excludes fewer values: its 'not' schema was narrowed"
        c.emit(out, "NOT_TYPE_NARROWED", where, text, Effect.WIDEN)
    else:
        text = "excludes different values: its 'not' schema changed"
        c.emit(out, "NOT_TYPE_CHANGED", where, text, Effect.CHANGE)


def _compare_conditional(c: SchemaComparer, o: Node, n: Node, ptr: str, out: list[Finding]) -> None:
    keys = ("if", "then", "else")
    old = {k: o[k] for k in keys if k in o}
    new = {k: n[k] for k in keys if k in n}
    where = _pointer.join(ptr, "if")
    if not old:
        text = "now applies an if/then/else condition"
        c.emit(out, "CONDITIONAL_ADDED", where, text, Effect.NARROW)
    elif not new:
        text = "no longer applies an if/then/else condition"
        c.emit(out, "CONDITIONAL_REMOVED", where, text, Effect.WIDEN)
    elif canonical(old) != canonical(new):
        # Conditions are compared as written: any edit may accept or reject other values.
        text = "changed its if/then/else condition"
        c.emit(out, "CONDITIONAL_CHANGED", where, text, Effect.CHANGE)
