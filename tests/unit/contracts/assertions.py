"""Schema builders and assertions shared by the contract tests."""

from __future__ import annotations

from typing import Any

from interlink.contracts import Difference, compare


def obj(props: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """An object schema with ``props`` and any further keywords."""
    return {"type": "object", "properties": props or {}, **extra}


def by_code(differences: list[Difference], code: str) -> Difference:
    """The one difference with ``code``; fails listing what was found otherwise."""
    found = [d for d in differences if d.code == code]
    assert found, f"no {code} in {[(d.code, d.pointer) for d in differences]}"
    return found[0]


def check(
    old: Any, new: Any, code: str, breaking: bool, pointer: str | None = None, **options: Any
) -> Difference:
    """Compare and assert that ``code`` is reported with the given verdict (and location)."""
    difference = by_code(compare(old, new, **options), code)
    assert difference.breaking is breaking, difference
    if pointer is not None:
        assert difference.pointer == pointer
    return difference
