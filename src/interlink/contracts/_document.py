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
