"""A loaded contract document, and a schema value bound to the document it came from.

Every schema value is read together with its document, because a ``$ref`` inside it resolves
against that document's file. When schemas from several documents are merged into one mapping
(``allOf`` merging, ``$ref`` siblings), values from another document are wrapped in
:class:`Bound` so they keep resolving against their own file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlink.errors import ContractError


@dataclass(eq=False, slots=True)
class Document:
    """One parsed document: ``uri`` identifies it, ``base_dir`` anchors relative refs."""

    uri: str
    root: Any
    base_dir: Path | None
    label: str
    anchors: dict[str, tuple[Any, str]] | None = field(default=None)

    def __repr__(self) -> str:
        return f"Document({self.label})"


@dataclass(frozen=True, slots=True, eq=False)
class Bound:
    """A schema value that must be resolved against ``doc`` rather than its container's."""

    value: Any
    doc: Document


def unbind(value: Any, doc: Document) -> tuple[Any, Document]:
    """The plain value and its document, unwrapping :class:`Bound`."""
    while isinstance(value, Bound):
        value, doc = value.value, value.doc
    return value, doc


#: Most JSON values a document may hold once YAML aliases (or shared objects) are expanded.
MAX_VALUES = 5_000_000


def check_expansion(root: Any, label: str, limit: int = MAX_VALUES) -> None:
    """Refuse a document that contains itself or expands to more than ``limit`` values.

    Shared containers (YAML aliases) are counted once per use, as every value-by-value pass
    over the document would meet them; sizes are memoised, so this costs one visit per
    container however much it expands.
    """
    if not isinstance(root, dict | list) or _is_tree(root):
        return
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # containers whose contents are being counted: their ancestors
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = node.values() if isinstance(node, dict) else node
        if finished:
            total = 1 + sum(sizes.get(id(c), 1) for c in children)
            if total > limit:
                raise ContractError(f"{label}: document is too large (more than {limit} values)")
            sizes[key] = total
            open_.discard(key)
            continue
        if key in sizes:
            continue
        if key in open_:
            raise ContractError(f"{label}: document contains itself (a cyclic alias or object)")
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if isinstance(c, dict | list))


def _is_tree(root: dict[str, Any] | list[Any]) -> bool:
    """Whether no container occurs twice (the usual case, decided in one quick pass)."""
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        key = id(node)
        if key in seen:
            return False
        seen.add(key)
        values = node.values() if isinstance(node, dict) else node
        stack.extend([v for v in values if isinstance(v, dict | list)])
    return True
