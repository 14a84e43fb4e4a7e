"""Comparing a shadow upstream's answer with the primary's.

Two answers match when their statuses are equal and their bodies are. Bodies are compared as
JSON when both responses say so (``application/json`` or ``*+json``) and both parse: objects
key by key, arrays index by index, numbers by value (``1`` equals ``1.0``). Any other bodies
are compared byte for byte. Headers are not compared.

A difference is reported where it is, as a JSON pointer (RFC 6901): ``/items/0/name``. A key
present on one side only, an array element beyond the other's length, and a value of another
type are differences at that place (``(root)`` when the documents differ as a whole). A
different status is reported as ``(status)`` (the bodies are then not compared) and a
different non-JSON body as ``(body)``. Aggregated, a difference counts for its field: the
pointer with array indexes as ``*`` (``/items/*/name``).

``compare.ignore`` lists JSON pointers left out of the comparison, along with everything
under them. A segment ``*`` stands for any one key or array index: ``/items/*/updatedAt``.
``~1`` and ``~0`` escape ``/`` and ``~`` in keys, as in any JSON pointer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from interlink.http.headers import Headers

STATUS: Final = "(status)"
BODY: Final = "(body)"
ROOT: Final = "(root)"
#: At most this many differences are reported for one pair of answers.
MAX_DIFFERENCES: Final = 100
#: JSON nested deeper than this is compared as bytes below that depth.
MAX_DEPTH: Final = 64

Segment = str | int
Path = tuple[Segment, ...]


def escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def pointer(path: Path) -> str:
    """``path`` as a JSON pointer: ("items", 0, "name") → ``/items/0/name``."""
    return "".join(f"/{escape(str(s))}" for s in path)


def field_of(path: Path) -> str:
    """``path`` with its array indexes as ``*``: the field, whichever element it was in."""
    return "".join(f"/{escape(s)}" if isinstance(s, str) else "/*" for s in path)


@dataclass(frozen=True, slots=True)
class Ignore:
    """Pointers (with ``*`` segments) excluded from the comparison."""

    patterns: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def parse(cls, pointers: Iterable[str]) -> Ignore:
        """Raises ValueError naming a pointer that is not one."""
        patterns: list[tuple[str, ...]] = []
        for text in pointers:
            if not text.startswith("/"):
                raise ValueError(f"compare.ignore: {text!r} is not a JSON pointer (/a/b, /a/*/c)")
            parts = text[1:].split("/")
            patterns.append(tuple(p.replace("~1", "/").replace("~0", "~") for p in parts))
        return cls(tuple(patterns))

    def covers(self, path: Path) -> bool:
        """True when ``path`` is an ignored place or lies under one."""
        for pattern in self.patterns:
            if len(pattern) > len(path):
                continue
            for want, have in zip(pattern, path, strict=False):
                if want != "*" and want != str(have):
                    break
            else:
                return True
        return False


def diff_json(
    left: Any, right: Any, ignore: Ignore = Ignore(), limit: int = MAX_DIFFERENCES
) -> list[Path]:
    """Where ``left`` and ``right`` differ, outside ``ignore``: at most ``limit`` paths."""
    found: list[Path] = []
    _diff(left, right, (), ignore, found, limit)
    return found


def _same_scalar(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right)


def _diff(left: Any, right: Any, path: Path, ignore: Ignore, found: list[Path], limit: int) -> None:  # noqa: C901 - one branch per pair of JSON types
    if len(found) >= limit or (ignore.patterns and ignore.covers(path)):
        return
    if isinstance(left, dict) and isinstance(right, dict):
        if len(path) >= MAX_DEPTH:
            if left != right:
                found.append(path)
            return
        keys = list(left)
        keys.extend(k for k in right if k not in left)
        for key in keys:
            child = (*path, key)
            if key not in left or key not in right:
                if not (ignore.patterns and ignore.covers(child)):
                    found.append(child)
                    if len(found) >= limit:
                        return
                continue
            _diff(left[key], right[key], child, ignore, found, limit)
        return
    if isinstance(left, list) and isinstance(right, list):
        if len(path) >= MAX_DEPTH:
            if left != right:
                found.append(path)
            return
        for index in range(max(len(left), len(right))):
            child = (*path, index)
            if index >= len(left) or index >= len(right):
                if not (ignore.patterns and ignore.covers(child)):
                    found.append(child)
                    if len(found) >= limit:
                        return
                continue
            _diff(left[index], right[index], child, ignore, found, limit)
        return
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        found.append(path)
        return
    if not _same_scalar(left, right):
        found.append(path)


def is_json(headers: Headers) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one comparison: ``fields`` are the differing places, empty on a match."""

    fields: tuple[str, ...]
    paths: tuple[str, ...]

    @property
    def matched(self) -> bool:
        return not self.fields


MATCH: Final = Outcome((), ())


def compare_responses(
    primary: tuple[int, Headers, bytes],
    shadow: tuple[int, Headers, bytes],
    ignore: Ignore = Ignore(),
) -> Outcome:
    """Compare two answers, each (status, headers, body)."""
    p_status, p_headers, p_body = primary
    s_status, s_headers, s_body = shadow
    if p_status != s_status:
        return Outcome((STATUS,), (STATUS,))
    if p_body == s_body:
        return MATCH
    if is_json(p_headers) and is_json(s_headers):
        try:
            left, right = json.loads(p_body), json.loads(s_body)
        except (ValueError, RecursionError):
            return Outcome((BODY,), (BODY,))
        paths = diff_json(left, right, ignore)
        if not paths:
            return MATCH
        fields = tuple(dict.fromkeys(field_of(p) or ROOT for p in paths))
        return Outcome(fields, tuple(pointer(p) or ROOT for p in paths))
    return Outcome((BODY,), (BODY,))
