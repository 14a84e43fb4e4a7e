"""Findings of the schema comparison and the plain-English subject each one is about."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from interlink.contracts import _pointer
from interlink.contracts.difference import Difference


class Effect(Enum):
    """What a change does to the set of values a schema accepts (old → new)."""

    NONE = "none"  # annotations only
    WIDEN = "widen"  # accepts more: breaks readers of the old schema (FORWARD)
    NARROW = "narrow"  # accepts less: breaks readers of the new schema (BACKWARD)
    CHANGE = "change"  # accepts different values: breaks both


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict: ``text`` completes a sentence whose subject the pointer names."""

    code: str
    pointer: str
    text: str
    breaking: bool

    def rebased(self, old_base: str, new_base: str) -> Finding:
        return Finding(self.code, new_base + self.pointer[len(old_base) :], self.text, self.breaking)

    def to_difference(self, root: str, prefix: str, consequence: str, lead: str = "") -> Difference:
        message = f"{lead}{subject(root, self.pointer, prefix)} {self.text}"
        if self.breaking and consequence:
            message += f": {consequence}"
        return Difference(self.code, self.pointer, message, self.breaking)


_NAMED = {"properties": "", "patternProperties": "pattern ", "dependentSchemas": "dependency "}
_COMBINED = {"anyOf", "oneOf", "allOf"}


def subject(root: str, pointer: str, prefix: str = "") -> str:
    """Name what ``pointer`` points at, relative to the schema at ``root``.

    ``#/properties/address/properties/zip`` under ``#`` reads "property 'address.zip'";
    ``prefix`` names the root ("the request body of POST /orders").
    """
    tokens = _pointer.split(pointer[len(root) :]) if pointer.startswith(root) else []
    name = ""
    notes: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token in _NAMED and following is not None:
            part = following if token == "properties" else f"<{_NAMED[token]}{following}>"
            name = f"{name}.{part}" if name else part
            index += 2
            continue
        if token == "items":
            name += "[]"
        elif token == "prefixItems" and following is not None:
            name += f"[{following}]"
            index += 1
        elif token == "additionalProperties":
            name += ".*" if name else "*"
        elif token in _COMBINED and following is not None and following.isdigit():
            where = f"'{name}'" if name else "the schema"
            notes.append(f"{token} member {int(following) + 1} of {where}")
            index += 1
        elif token == "not":
            notes.append("the 'not' schema")
        index += 1
    if not name:
        label = prefix or "the schema"
    elif name.startswith("["):
        label = f"array items '{name}'"
    else:
        label = f"property '{name}'"
    if name and prefix:
        label = f"{label} of {prefix}"
    if notes:
        label = f"{label} (in {', '.join(notes)})"
    return label
