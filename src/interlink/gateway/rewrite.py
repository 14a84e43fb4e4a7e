"""The path a request takes to its upstream.

``match.path``'s part of the request path is replaced by ``rewrite.path`` (whose ``{name}``
segments take the values the match captured), the rest of the path follows, and the result is
joined under the upstream's base: the System's ``baseUrl`` path, then the upstream's ``path``.
Without a rewrite the request path is kept whole. The query string is passed on unchanged.

    match /api/customers, rewrite /customers, baseUrl http://crm/v1:
        /api/customers/42?x=1  →  /v1/customers/42?x=1
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from interlink.gateway.routing import PathPattern

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Rewrite:
    parts: tuple[str, ...]  # literal text at even indexes, parameter names at odd ones

    @classmethod
    def parse(cls, text: str, pattern: PathPattern) -> Rewrite:
        """Raises ValueError when it names a parameter the match does not capture."""
        parts = tuple(_PARAM.split(text.rstrip("/") or "/"))
        for name in parts[1::2]:
            if name not in pattern.params:
                raise ValueError(
                    f"rewrite.path names {{{name}}}, which match.path does not capture"
                )
        return cls(parts)

    def apply(self, params: dict[str, str]) -> str:
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        return "".join(part if i % 2 == 0 else params[part] for i, part in enumerate(parts))


def join(base: str, rest: str) -> str:
    """``base`` (no trailing slash, may be empty) + ``rest`` (a path, may be empty)."""
    if not rest:
        return base or "/"
    if rest[0] != "/":
        rest = "/" + rest
    return base + rest if base else rest


def upstream_path(
    path: str, prefix: int, rewrite: Rewrite | None, params: dict[str, str], base: str
) -> str:
    if rewrite is None:
        return join(base, path)
    replaced = rewrite.apply(params)
    rest = path[prefix:]
    if replaced == "/":
        replaced = ""
    return join(base, replaced + rest if rest else replaced)
