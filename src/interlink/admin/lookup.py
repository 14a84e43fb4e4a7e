"""Names given to the admin API that name nothing: a 404 with the nearest known name."""

from __future__ import annotations

from collections.abc import Iterable

from interlink.errors import NotFound
from interlink.estate.hints import did_you_mean


def known(what: str, name: str, names: Iterable[str]) -> None:
    """Raise ``NotFound`` ("no WHAT 'x' (did you mean 'y'?)") unless ``name`` is in ``names``."""
    choices = set(names)
    if name in choices:
        return
    hint = did_you_mean(name, choices)
    raise NotFound(f"no {what} {name[:100]!r}" + (f" ({hint})" if hint else ""))
