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
        return Finding(
            self.code, new_base + self.pointer[len(old_base) :], self.text, self.breaking
        )

    def to_difference(self, root: str, prefix: str, consequence: str, lead: str = "") -> Difference:
        message = f"{lead}{subject(root, self.pointer, prefix)} {self.text}"
        if self.breaking and consequence:
            message += f": {consequence}"
        return Difference(self.code, self.pointer, message, self.breaking)


_COMBINED = {"anyOf", "oneOf", "allOf"}


def subject(root: str, pointer: str, prefix: str = "") -> str:  # noqa: C901 - one branch per keyword a pointer passes
    """Name what ``pointer`` points at, relative to the schema at ``root``.

    ``#/properties/address/properties/zip`` under ``#`` reads "property 'address.zip'";
    ``prefix`` names the root ("the request body of POST /orders").
    """
    tokens = _pointer.split(pointer[len(root) :]) if pointer.startswith(root) else []
    parts: list[str] = []
    kind = ""
    pattern = ""
    notes: list[str] = []
    member_label = ""
    index = 0
    while index < len(tokens):
        step = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if step == "properties" and following is not None:
            parts.append(f".{following}")
            kind = "property"
            index += 1
        elif step == "patternProperties" and following is not None:
            parts.append(f".<{following}>")
            kind, pattern = "pattern", following
            index += 1
        elif step == "additionalProperties":
            parts.append(".*")
            kind = "additional"
        elif step == "items":
            parts.append("[]")
            kind = "items"
        elif step == "prefixItems" and following is not None:
            parts.append(f"[{following}]")
            kind = "tuple"
            index += 1
        elif step in _COMBINED and following is not None and following.isdigit():
            owner = _name(parts)
            where = f"'{owner}'" if owner else "the schema"
            member = f"{step} member {int(following) + 1} of {where}"
            if index + 2 == len(tokens):
                member_label = member  # the finding is about the member itself
            else:
                notes.append(member)
            index += 1
        elif step == "dependentSchemas" and following is not None:
            notes.append(f"the schema applied when '{following}' is present")
            index += 1
        elif step == "not" and index + 1 < len(tokens):
            notes.append("the 'not' schema")
        index += 1
    if member_label:
        label = f"{member_label} in {prefix}" if prefix else member_label
    else:
        label = _label(parts, kind, pattern) if parts else prefix or "the schema"
        if parts and prefix:
            label = f"{label} of {prefix}"
    if notes:
        label = f"{label} (in {'; '.join(notes)})"
    return label


def _name(parts: list[str]) -> str:
    return "".join(parts).lstrip(".")


def _label(parts: list[str], kind: str, pattern: str) -> str:
    parent = _name(parts[:-1])
    of_parent = f" of '{parent}'" if parent else ""
    if kind == "pattern":
        return f"properties matching {pattern!r}{of_parent}"
    if kind == "additional":
        return f"undeclared properties{of_parent}"
    if kind == "tuple":
        position = int(parts[-1][1:-1]) + 1 if parts[-1][1:-1].isdigit() else parts[-1]
        return f"tuple item {position}{of_parent}"
    if kind == "items":
        return f"items of '{parent}'" if parent else "array items"
    return f"property '{_name(parts)}'"
