"""Whether a call a flow makes is an operation a System's OpenAPI contracts declare.

A flow's ``call`` and ``enrich`` steps write a method and a path under the System's base URL,
with ``{field}`` placeholders filled from the message. When the System exposes Apis with OpenAPI
contracts, `check` compares the two: a method and path that no contract declares is most often
a typo or an operation the System dropped. Paths are compared segment by segment; a segment with
a placeholder on either side matches any segment, and a contract's paths are tried as written
and under the path of its first ``servers`` URL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def declared(contract: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Each (METHOD, path) the OpenAPI document declares, paths under its server's path."""
    prefix = ""
    servers = contract.get("servers")
    if isinstance(servers, list) and servers and isinstance(servers[0], Mapping):
        url = servers[0].get("url")
        if isinstance(url, str):
            prefix = urlsplit(url).path.rstrip("/")
    paths = contract.get("paths")
    if not isinstance(paths, Mapping):
        return
    for template, item in paths.items():
        if not isinstance(item, Mapping) or not isinstance(template, str):
            continue
        for method in METHODS:
            if method in item:
                yield method.upper(), template
                if prefix:
                    yield method.upper(), prefix + template


def matches(method: str, path: str, contract: Mapping[str, Any]) -> bool:
    """Whether ``method path`` (a flow's, placeholders allowed) is one of the contract's."""
    wanted = _segments(path)
    return any(
        m == method.upper() and _same(wanted, _segments(template))
        for m, template in declared(contract)
    )


def _segments(path: str) -> list[str]:
    return path.partition("?")[0].strip("/").split("/")


def _same(a: list[str], b: list[str]) -> bool:
    return len(a) == len(b) and all(
        x == y or "{" in x or "{" in y for x, y in zip(a, b, strict=True)
    )
