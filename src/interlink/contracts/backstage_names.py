"""Backstage entity names for estate objects.

Backstage names are 1 to 63 characters: runs of ``[a-zA-Z0-9]`` joined by single ``-``, ``_``
or ``.``. Estate names are longer and may repeat a separator, so a name that breaks the rule is
shortened or tidied, and a name that then collides with another of the same Backstage kind gets
a short hash of the estate object it stands for.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63
NAME_PATTERN = r"^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$"
_SUFFIX = 7  # '-' and six hex digits


def is_valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME and re.match(NAME_PATTERN, name) is not None


def sanitize(name: str) -> str:
    """``name`` within Backstage's rule, changed as little as possible."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    cleaned = re.sub(r"([-_.])[-_.]+", r"\1", cleaned).strip("-_.")
    if len(cleaned) > MAX_NAME:
        cleaned = _with_suffix(cleaned, name)
    return cleaned or "x"


def _with_suffix(base: str, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:6]
    return base[: MAX_NAME - _SUFFIX].rstrip("-_.") + "-" + digest


class EntityNames:
    """One Backstage name per estate object, unique within each Backstage kind."""

    def __init__(self) -> None:
        self._wanted: dict[tuple[str, str], str] = {}
        self._names: dict[tuple[str, str], str] = {}

    def add(self, kind: str, key: str, name: str) -> None:
        """Register estate object ``key`` (``Api/orders``) as a Backstage ``kind`` entity."""
        self._wanted[(kind, key)] = name

    def assign(self) -> None:
        """Settle every name; of colliding objects, the one whose name needed no change keeps it
        plain, the others get a hash of their estate key."""
        by_name: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for (kind, key), name in sorted(self._wanted.items()):
            by_name.setdefault((kind, sanitize(name).lower()), []).append((key, name))
        for (kind, _), owners in by_name.items():
            plain = next((key for key, name in owners if sanitize(name) == name), owners[0][0])
            for key, name in owners:
                clean = sanitize(name)
                self._names[(kind, key)] = clean if key == plain else _with_suffix(clean, key)

    def name(self, kind: str, key: str) -> str:
        return self._names[(kind, key)]

    def ref(self, kind: str, key: str) -> str:
        """An entity reference, ``component:crm``."""
        return f"{kind.lower()}:{self.name(kind, key)}"

    def has(self, kind: str, key: str) -> bool:
        return (kind, key) in self._names
