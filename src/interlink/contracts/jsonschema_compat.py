"""JSON Schema compatibility: can a reader using one schema read data written with another?

The rules are the content-model rules of Confluent Schema Registry for JSON Schema. Every change
is described from the old schema to the new one and classified by what it does to the set of
accepted values: *widening* (accepts more) breaks readers that still use the old schema
(FORWARD), *narrowing* (accepts less) breaks readers that use the new schema (BACKWARD), a
*change* breaks both, and annotations break nothing. The check direction decides which changes
are breaking; non-breaking changes are reported too, with ``breaking=False``.

Rules, in short (BACKWARD: new reads old):

* ``true``/``{}`` as the new schema accepts anything (``SCHEMA_REMOVED``, compatible); ``false``
  as the new schema accepts nothing (``FALSE_SCHEMA_ADDED``).
* ``type``: adding a type or ``integer`` → ``number`` is ``TYPE_EXTENDED``; dropping one is
  ``TYPE_NARROWED``; both is ``TYPE_CHANGED``. ``type: [x]`` and one-member ``anyOf``/``oneOf``
  count as their member.
* ``enum``/``const``: ``ENUM_EXTENDED`` / ``ENUM_NARROWED`` / ``ENUM_CHANGED`` (``CONST_*``).
* bounds (``maxLength``, ``maximum``, ``exclusiveMaximum``, ``maxItems``, ``maxProperties`` and
  their ``min`` twins): raising an upper / lowering a lower bound or removing it is compatible,
  adding or tightening one is not. ``multipleOf`` may shrink to a divisor; ``pattern``,
  ``format`` and ``uniqueItems`` may be removed, not added or changed.
* ``required``: leaving it is compatible, entering it only with a ``default``.
* properties by content model (open: undeclared names allowed; closed:
  ``additionalProperties: false``; partially open: ``patternProperties`` or an
  ``additionalProperties`` schema): removing a property is compatible from an open model, not
  from a closed one, and from a partial one only when the schema that now covers its name
  accepts its old values; adding one is compatible to a closed model, to an open model only
  with an empty schema, and to a partial one only when it accepts what the old covering schema
  did. ``additionalProperties`` ``false`` → ``true`` is compatible, the reverse is not.
* ``anyOf``/``oneOf`` members may be added, not removed; ``allOf`` members may be removed, not
  added; a ``not`` schema may narrow, not widen. Members are matched by compatibility, not by
  position, and changed members are reported with the change inside them.
* ``items``/``prefixItems``, ``contains``, ``propertyNames``, ``dependent*`` recurse with their
  own pointers; ``if``/``then``/``else`` must stay identical.

Policy ``lenient`` assumes that writers emit only the properties their schema names under
``properties``. It therefore relaxes exactly the rules about names a schema does not declare:
``PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL``, ``PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL``,
``PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL``, every
``ADDITIONAL_PROPERTIES_*`` and ``PATTERN_PROPERTY_*`` change, and changes inside
``additionalProperties``/``patternProperties`` schemas are never breaking. Everything about
declared properties (types, required, removal from a closed model, ...) is judged as in
``strict``.

Work is bounded: recursion through ``$ref`` stops when the same (old, new) pair is met again
(treated as compatible), nesting beyond :data:`MAX_DEPTH` or more than :data:`MAX_STEPS`
comparisons raise :class:`~interlink.errors.ContractError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interlink.contracts import (
    _array_rules,
    _combinator_rules,
    _object_rules,
    _scalar_rules,
)
from interlink.contracts._document import Document
from interlink.contracts._findings import Effect, Finding
from interlink.contracts._keywords import (
    accepts_anything,
    rejects_everything,
    same_schema,
    walk_schema,
)
from interlink.contracts._normalize import Normalizer, View
from interlink.contracts.difference import Difference
from interlink.contracts.policy import Direction, Policy
from interlink.contracts.refs import Resolver
from interlink.errors import ContractError

MAX_DEPTH = 64
MAX_STEPS = 200_000
TOO_LARGE = "schema too large or deeply nested to compare"

#: What a breaking finding means to the people reading the schema, per direction.
CONSEQUENCES = {
    Direction.BACKWARD: "readers using the new schema cannot read data written with the old one",
    Direction.FORWARD: (
        "readers still using the old schema cannot read data written with the new one"
    ),
}


class SchemaComparer:
    """Compares schema pairs in one direction; reusable across many pairs of one comparison.

    ``merge_all_of`` folds ``allOf`` members together first (OpenAPI composition);
    ``ignore_flag`` (``readOnly``/``writeOnly``) skips properties a side never sends.
    ``skip_equal`` stops at equal reference-free subtrees (turn off only to exercise the rules).
    """

    def __init__(
        self,
        resolver: Resolver,
        *,
        direction: Direction = Direction.BACKWARD,
        policy: Policy = Policy.STRICT,
        merge_all_of: bool = False,
        ignore_flag: str | None = None,
        max_depth: int = MAX_DEPTH,
        max_steps: int = MAX_STEPS,
        skip_equal: bool = True,
    ) -> None:
        self.resolver = resolver
        self.direction = direction
        self.lenient = policy is Policy.LENIENT
        self.ignore_flag = ignore_flag
        self.skip_equal = skip_equal
        self.normalizer = Normalizer(resolver, merge_all_of=merge_all_of)
        self._max_depth = max_depth
        self._max_steps = max_steps
        self._steps = 0
        self._active: set[tuple[str, str]] = set()
        self._memo: dict[tuple[str, str], tuple[str, list[Finding]]] = {}

    # -- entry points -------------------------------------------------------------------------

    def run(
        self, old: Any, old_doc: Document, new: Any, new_doc: Document, pointer: str = "#"
    ) -> list[Finding]:
        """Compare two top-level schemas; the work budget starts afresh for each call."""
        self._steps = 0
        # A reference back to a whole document lands on this very pair: mark it as in progress.
        roots = (f"{old_doc.uri}#", f"{new_doc.uri}#")
        at_roots = old is old_doc.root and new is new_doc.root and roots not in self._active
        if at_roots:
            self._active.add(roots)
        try:
            return self.compare(old, old_doc, new, new_doc, pointer, 0)
        except RecursionError:
            raise ContractError(TOO_LARGE) from None
        finally:
            if at_roots:
                self._active.discard(roots)

    def compare(
        self, old: Any, old_doc: Document, new: Any, new_doc: Document, pointer: str, depth: int
    ) -> list[Finding]:
        """Findings for one (old, new) pair of subschemas at ``pointer``."""
        self._steps += 1
        if self._steps > self._max_steps or depth > self._max_depth:
            raise ContractError(TOO_LARGE)
        old, old_doc, old_key = self.resolver.deref(old, old_doc)
        new, new_doc, new_key = self.resolver.deref(new, new_doc)
        if old is new and old_doc is new_doc:
            return []
        both = old_key is not None and new_key is not None
        if not both and self.skip_equal and same_schema(old, new):
            return []  # equal and free of references: nothing can differ below
        # A pair met again while it is being compared is a cycle (through a $ref, or a
        # one-member union standing for its referenced member): coinductively compatible.
        pair = (old_key or f"@{id(old)}", new_key or f"@{id(new)}")
        if pair in self._active:
            return []
        if both and pair in self._memo:
            base, found = self._memo[pair]
            return found if base == pointer else [f.rebased(base, pointer) for f in found]
        self._active.add(pair)
        try:
            if both and self.skip_equal and same_schema(old, new):
                found = []
            else:
                found = self._nodes(old, old_doc, new, new_doc, pointer, depth)
        finally:
            self._active.discard(pair)
        if both:
            self._memo[pair] = (pointer, found)
        return found

    # -- services for the rule modules ----------------------------------------------------------

    def resolve(self, value: Any, doc: Document, pointer: str) -> tuple[View, Document]:
        """Dereference and normalise a subschema for inspection (not comparison)."""
        node, node_doc, _ = self.resolver.deref(value, doc)
        return self.normalizer.view(node, node_doc, pointer), node_doc

    def breaks(self, effect: Effect) -> bool:
        if effect is Effect.CHANGE:
            return True
        if effect is Effect.NARROW:
            return self.direction is Direction.BACKWARD
        if effect is Effect.WIDEN:
            return self.direction is Direction.FORWARD
        return False

    def emit(
        self,
        out: list[Finding],
        code: str,
        pointer: str,
        text: str,
        effect: Effect,
        *,
        relax: bool = False,
    ) -> None:
        """Record a finding; ``relax`` marks rules the lenient policy does not enforce."""
        breaking = self.breaks(effect) and not (relax and self.lenient)
        out.append(Finding(code, pointer, text, breaking))

    def accepts_all_of(
        self, big: Any, big_doc: Document, small: Any, small_doc: Document, pointer: str, depth: int
    ) -> bool:
        """Whether ``big`` accepts every value ``small`` accepts (independent of direction)."""
        if self.direction is Direction.BACKWARD:
            found = self.compare(small, small_doc, big, big_doc, pointer, depth)
        else:
            found = self.compare(big, big_doc, small, small_doc, pointer, depth)
        return not any(f.breaking for f in found)

    def ignored(self, value: Any, doc: Document, pointer: str) -> bool:
        """Whether a property schema carries the flag this comparison skips."""
        if self.ignore_flag is None:
            return False
        node, _ = self.resolve(value, doc, pointer)
        return isinstance(node, dict) and node.get(self.ignore_flag) is True

    # -- the comparison of two dereferenced nodes ---------------------------------------------

    def _nodes(
        self, old: Any, old_doc: Document, new: Any, new_doc: Document, pointer: str, depth: int
    ) -> list[Finding]:
        o = self.normalizer.view(old, old_doc, pointer)
        n = self.normalizer.view(new, new_doc, pointer)
        out: list[Finding] = []
        if rejects_everything(o):
            if not rejects_everything(n):
                text = "accepted no value and now accepts some"
                self.emit(out, "FALSE_SCHEMA_REMOVED", pointer, text, Effect.WIDEN)
            return out
        if accepts_anything(n):
            if not accepts_anything(o):
                text = "is no longer constrained (any value is accepted)"
                self.emit(out, "SCHEMA_REMOVED", pointer, text, Effect.WIDEN)
            elif isinstance(o, dict) and isinstance(n, dict):
                _scalar_rules.compare_default(self, o, n, pointer, out)
            return out
        if rejects_everything(n):
            text = "now rejects every value (schema 'false')"
            self.emit(out, "FALSE_SCHEMA_ADDED", pointer, text, Effect.NARROW)
            return out
        o = {} if o is True else o
        assert isinstance(o, dict)
        assert isinstance(n, dict)
        if _combinator_rules.compare_wrapped(self, o, old_doc, n, new_doc, pointer, depth, out):
            _scalar_rules.compare_default(self, o, n, pointer, out)
            return out
        if _scalar_rules.compare_types(self, o, n, pointer, out):
            return out  # no value satisfies both types: the rest would only repeat that
        _scalar_rules.compare_scalars(self, o, n, pointer, out)
        _object_rules.compare_objects(self, o, old_doc, n, new_doc, pointer, depth, out)
        _array_rules.compare_arrays(self, o, old_doc, n, new_doc, pointer, depth, out)
        _combinator_rules.compare_combinators(self, o, old_doc, n, new_doc, pointer, depth, out)
        _scalar_rules.compare_default(self, o, n, pointer, out)
        return out


def compare(
    old: Any,
    new: Any,
    *,
    direction: Direction | str = Direction.BACKWARD,
    policy: Policy | str = Policy.STRICT,
    old_path: Path | None = None,
    new_path: Path | None = None,
    prefix: str = "",
) -> list[Difference]:
    """Differences between two JSON Schemas, judged for ``direction``.

    BACKWARD (default) asks whether a reader using ``new`` can read data written with ``old``.
    ``old_path``/``new_path`` are the files the schemas came from (or directories), against
    which relative ``$ref``\\ s resolve.
    """
    way = Direction.parse(direction)
    resolver = Resolver()
    old_doc = resolver.add_root(old, path=old_path, label=_label(old_path, "old schema"))
    new_doc = resolver.add_root(new, path=new_path, label=_label(new_path, "new schema"))
    check_roots(resolver, old_doc, new_doc)
    comparer = SchemaComparer(resolver, direction=way, policy=Policy.parse(policy))
    findings = comparer.run(old, old_doc, new, new_doc, "#")
    return [f.to_difference("#", prefix, CONSEQUENCES[way]) for f in findings]


def check_roots(resolver: Resolver, *docs: Document) -> None:
    """Check every node of whole schema documents before comparing them."""
    for doc in docs:
        walk_schema(doc.root, doc, MAX_STEPS, resolver.checked)


def _label(path: Path | None, fallback: str) -> str:
    return str(path) if path is not None and not path.is_dir() else fallback
