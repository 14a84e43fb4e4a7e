"""Request paths made canonical before routing, so a route cannot be bypassed by spelling.

``/api/public/../admin`` and ``/api/%61dmin`` both mean ``/api/admin`` to most servers. The
gateway routes, and forwards, the canonical form: percent-encoded unreserved characters are
decoded (RFC 3986 §6.2.2.2) and dot segments removed (§5.2.4). A path that climbs above the
root, or holds a control character, is refused.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f#]")


def _unescape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def normalize_path(path: str) -> str | None:  # noqa: C901 - each branch refuses or rewrites one form
    """The canonical form of an origin-form path, or None when it is not acceptable."""
    if not path.startswith("/"):
        return None
    if "%" not in path and "/." not in path and "#" not in path and " " not in path:
        return path  # the usual case: already canonical (llhttp refused control characters)
    if _FORBIDDEN.search(path):
        return None
    if "%" in path:
        if "%" in _ESCAPE.sub("", path):
            return None  # a stray % that starts no escape
        path = _ESCAPE.sub(_unescape, path)
    if "/." not in path:
        return path
    out: list[str] = []
    segments = path[1:].split("/")
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if segment == ".":
            if i == last:
                out.append("")
        elif segment == "..":
            if not out:
                return None
            out.pop()
            if i == last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)
