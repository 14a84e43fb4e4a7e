"""``$ref`` resolution: local pointers, anchors and relative files (JSON or YAML).

References resolve against the document they appear in: ``#/$defs/x``, ``#/definitions/x`` and
``#/components/schemas/x`` inside it, ``other.json#/x`` or ``./common.yaml`` next to its file.
Fragments are percent-decoded, then ``~1``/``~0`` unescaped (RFC 6901). Remote (``http:``)
references are refused rather than fetched: a compatibility check must not depend on the network.

Each file is parsed once per :class:`Resolver`. A ``$ref`` with sibling keywords resolves to the
target with the siblings laid over it (``description``, ``nullable``, ``default`` next to a
``$ref`` are what authors mean to add). Chains of references are followed to a bounded length and
a chain that loops back on itself is an error; recursion *through* subschemas is fine and is
bounded by the comparison instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from interlink.contracts import _pointer
from interlink.contracts._document import Document, check_expansion, unbind
from interlink.contracts._keywords import canonical, rebind
from interlink.contracts.loader import load_document
from interlink.errors import ContractError

#: Longest chain of ``$ref`` → ``$ref`` followed before giving up.
MAX_REF_CHAIN = 64
#: Most distinct files one comparison may pull in through references.
MAX_FILES = 500

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Keywords next to a $ref that identify or document it rather than add to it.
_IGNORED_SIBLINGS = frozenset({"$ref", "$id", "$schema", "$comment", "$defs", "definitions"})

Resolved = tuple[Any, Document, str | None]


class Resolver:
    """Resolves references for every document taking part in one comparison."""

    def __init__(self) -> None:
        self._files: dict[Path, Document] = {}
        self._roots = 0
        #: ids of schema nodes already checked for well-formed keywords (documents stay alive)
        self.checked: set[int] = set()

    def add_root(self, value: Any, *, path: Path | None = None, label: str = "schema") -> Document:
        """Register an in-memory document.

        ``path`` is the file it was read from, or a directory relative references start from.
        """
        self._roots += 1
        check_expansion(value, label if path is None else str(path))
        if path is None:
            return Document(f"<{label}#{self._roots}>", value, None, label)
        resolved = path.resolve()
        if resolved.is_dir():
            return Document(f"<{label}#{self._roots}>", value, resolved, label)
        doc = Document(str(resolved), value, resolved.parent, str(path))
        # A reference back into the root's own file must land on this in-memory document.
        self._files.setdefault(resolved, doc)
        return doc

    def document(self, path: Path) -> Document:
        """The document stored at ``path``, parsed once."""
        resolved = path.resolve()
        doc = self._files.get(resolved)
        if doc is None:
            if len(self._files) >= MAX_FILES:
                raise ContractError(f"more than {MAX_FILES} files referenced; refusing {path}")
            doc = Document(str(resolved), load_document(resolved), resolved.parent, str(path))
            self._files[resolved] = doc
        return doc

    def deref(self, value: Any, doc: Document) -> Resolved:
        """Follow ``$ref`` until a schema without one; return it, its document and a key.

        The key names the final target (``file#pointer``), so two visits of the same target can
        be recognised; it is ``None`` when ``value`` was not a reference.
        """
        value, doc = unbind(value, doc)
        if not (isinstance(value, dict) and "$ref" in value):
            return value, doc, None
        layers: list[tuple[dict[str, Any], Document]] = []
        seen: list[str] = []
        key = ""
        while isinstance(value, dict) and "$ref" in value:
            ref = value["$ref"]
            if not isinstance(ref, str):
                raise ContractError(f"'$ref' must be a string in {doc.label}, got {ref!r}")
            siblings = {k: v for k, v in value.items() if k not in _IGNORED_SIBLINGS}
            if siblings:
                layers.append((siblings, doc))
            value, doc, key = self._lookup(ref, doc)
            if key in seen or len(seen) >= MAX_REF_CHAIN:
                chain = " -> ".join([*seen, key])
                raise ContractError(f"circular or endless $ref chain: {chain}")
            seen.append(key)
            value, doc = unbind(value, doc)
        if layers:
            value, key = _overlay(value, doc, layers, key)
        return value, doc, key

    def _lookup(self, ref: str, doc: Document) -> tuple[Any, Document, str]:
        file_part, _, fragment = ref.partition("#")
        target = doc
        if file_part:
            if _SCHEME.match(file_part):
                raise ContractError(
                    f"cannot resolve $ref '{ref}' in {doc.label}: remote references are not "
                    "supported (use a relative file path)"
                )
            if doc.base_dir is None:
                raise ContractError(
                    f"cannot resolve $ref '{ref}' in {doc.label}: the document has no file "
                    "location to resolve relative references against"
                )
            path = doc.base_dir / unquote(file_part)
            try:
                target = self.document(path)
            except ContractError as exc:
                raise ContractError(f"cannot resolve $ref '{ref}' in {doc.label}: {exc}") from None
        node, pointer = self._fragment(target, fragment, ref, doc)
        return node, target, f"{target.uri}{pointer}"

    def _fragment(
        self, target: Document, fragment: str, ref: str, doc: Document
    ) -> tuple[Any, str]:
        if fragment and not fragment.startswith("/"):
            anchors = _anchors(target)
            found = anchors.get(unquote(fragment))
            if found is None:
                raise ContractError(
                    f"cannot resolve $ref '{ref}' in {doc.label}: no anchor '{fragment}' "
                    f"in {target.label}"
                )
            return found
        node = target.root
        tokens = _pointer.fragment_tokens(fragment)
        for depth, token in enumerate(tokens):
            node, _ = unbind(node, target)
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                missing = _pointer.from_tokens(tokens[: depth + 1])
                raise ContractError(
                    f"cannot resolve $ref '{ref}' in {doc.label}: {missing} does not exist "
                    f"in {target.label}"
                )
        return node, _pointer.from_tokens(tokens)


def _overlay(
    target: Any, doc: Document, layers: list[tuple[dict[str, Any], Document]], key: str
) -> tuple[Any, str]:
    """Lay ``$ref`` siblings over the resolved target, outermost reference last."""
    if target is False:
        return False, key
    merged: dict[str, Any] = {} if target is True else rebind(target, doc, doc)
    for siblings, where in reversed(layers):
        merged.update(rebind(siblings, where, doc))
        # Same target with other siblings is another schema: give it its own key.
        key = f"{key}&{canonical(siblings)}"
    return merged, key


def _anchors(doc: Document) -> dict[str, tuple[Any, str]]:
    """``$anchor`` names (and old-style ``$id: "#name"``) of a document, indexed once."""
    if doc.anchors is not None:
        return doc.anchors
    found: dict[str, tuple[Any, str]] = {}
    stack: list[tuple[Any, str]] = [(doc.root, "#")]
    seen: set[int] = set()
    while stack:
        node, where = stack.pop()
        if id(node) in seen:
            continue
        if isinstance(node, dict):
            seen.add(id(node))
            anchor = node.get("$anchor")
            if isinstance(anchor, str):
                found.setdefault(anchor, (node, where))
            legacy = node.get("$id")
            if isinstance(legacy, str) and legacy.startswith("#") and len(legacy) > 1:
                found.setdefault(legacy[1:], (node, where))
            stack.extend((v, _pointer.join(where, k)) for k, v in node.items())
        elif isinstance(node, list):
            seen.add(id(node))
            stack.extend((v, _pointer.join(where, i)) for i, v in enumerate(node))
    doc.anchors = found
    return found
