"""From the paths an Api's contract describes to the paths the gateway serves them on.

A Route matches a public prefix (``match.path``) and, with ``rewrite.path``, replaces it before
the request goes upstream. A contract describes the upstream side, so a contract path under the
rewrite prefix is served at the match prefix plus the rest: with ``/api/customers`` rewritten
to ``/customers``, ``/customers/{id}`` is served at ``/api/customers/{id}``. Without a rewrite
the path is served unchanged when it lies under the match prefix. Paths are compared segment by
segment, and a ``{parameter}`` segment matches any other parameter segment.
"""

from __future__ import annotations

import re

_PARAM = re.compile(r"^\{[^{}/]+\}$")


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _is_param(segment: str) -> bool:
    return bool(_PARAM.match(segment))


def _same(prefix: str, segment: str) -> bool:
    return prefix == segment or (_is_param(prefix) and _is_param(segment))


def public_path(path: str, match: str, rewrite: str | None) -> str | None:
    """Where the gateway serves contract path ``path``; None when the route does not reach it."""
    prefix = _segments(rewrite if rewrite is not None else match)
    parts = _segments(path)
    if len(parts) < len(prefix) or not all(map(_same, prefix, parts)):
        return None
    if rewrite is None:
        return path
    public = _segments(match)
    # Parameters in the public prefix take the contract's names, in order, so that the
    # parameters the contract declares still name every template in the path.
    names = iter([p for p in parts[: len(prefix)] if _is_param(p)])
    if sum(map(_is_param, public)) == sum(map(_is_param, prefix)):
        public = [next(names) if _is_param(s) else s for s in public]
    joined = "/" + "/".join([*public, *parts[len(prefix) :]])
    if path.endswith("/") and len(parts) > len(prefix):
        joined += "/"
    return joined
