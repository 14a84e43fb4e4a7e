"""Which route serves a request: host, then path, then method. Compiled once per snapshot.

Precedence, from the most specific down; the first route that also allows the method wins:

1. **Host.** Routes naming the request's exact host, then wildcard hosts (``*.example.com``:
   one or more labels before the suffix; more labels in the pattern first), then routes that
   name no host. A host with a port (``api.example.com:8443``) only matches a Host header
   with that port.
2. **Path.** Every ``match.path`` is a prefix made of whole segments: ``/customers`` matches
   ``/customers``, ``/customers/`` and ``/customers/42``, never ``/customersX``. A template
   segment ``{id}`` matches one non-empty segment. Comparing two patterns segment by segment,
   at the first difference a literal segment beats a template segment; when one pattern is a
   prefix of the other, the longer wins. So ``/customers/me`` > ``/customers/{id}`` >
   ``/customers`` > ``/``, and ``/a/b`` > ``/a/{x}/c`` (longer literal prefix first). A trailing
   slash in a pattern is ignored.
3. **Method.** Among routes with the same host and path, one listing methods beats one that
   lists none, fewer methods first; ``GET`` implies ``HEAD``. A route whose methods exclude the
   request's is skipped, so a less specific route may serve it. If routes matched the host and
   path but none allowed the method, the answer is 405 with ``Allow`` listing theirs.
4. **Name.** Anything still tied is decided by route name, so the order never depends on file
   order. (``interlink check`` reports two routes with the same host, path and methods.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True, slots=True)
class PathPattern:
    text: str
    segments: tuple[str | None, ...]  # None: a template segment
    params: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> PathPattern:
        """Raises ValueError for a template segment that is not one whole ``{name}``."""
        trimmed = text.rstrip("/")
        segments: list[str | None] = []
        params: list[str] = []
        for segment in trimmed.split("/")[1:] if trimmed else ():
            param = _PARAM.match(segment)
            if param:
                if param.group(1) in params:
                    raise ValueError(f"template parameter {{{param.group(1)}}} appears twice")
                params.append(param.group(1))
                segments.append(None)
            elif "{" in segment or "}" in segment:
                raise ValueError(
                    f"segment {segment!r} of {text!r}: a template segment is one whole {{name}}"
                )
            else:
                segments.append(segment)
        return cls(trimmed or "/", tuple(segments), tuple(params))


@dataclass(frozen=True, slots=True)
class HostPattern:
    text: str  # lower-case
    wildcard: bool
    with_port: bool

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        host = text.lower()
        _, _, port = host.rpartition(":")
        return cls(host, host.startswith("*."), ":" in host and port.isdigit())

    @property
    def suffix(self) -> str:
        return self.text[1:]  # "*.example.com" → ".example.com"


class RouteKey(Generic[T]):
    """What the router needs of a route; ``value`` is what a match hands back. (A plain class:
    mypyc compiles no generic dataclass.)"""

    __slots__ = ("host", "methods", "name", "path", "value")

    def __init__(
        self,
        name: str,
        path: PathPattern,
        host: HostPattern | None,
        methods: frozenset[str] | None,
        value: T,
    ) -> None:
        self.name = name
        self.path = path
        self.host = host
        self.methods = methods
        self.value = value

    def __repr__(self) -> str:
        return f"RouteKey({self.name!r}, {self.path!r}, {self.host!r}, {self.methods!r})"


class Matched(Generic[T]):
    """The route found; ``prefix``: characters of the path its pattern consumed."""

    __slots__ = ("params", "prefix", "value")

    def __init__(self, value: T, params: dict[str, str], prefix: int) -> None:
        self.value = value
        self.params = params
        self.prefix = prefix


@dataclass(frozen=True, slots=True)
class MethodNotAllowed:
    allow: tuple[str, ...]


class _Node(Generic[T]):
    __slots__ = ("keys", "literal", "param")

    def __init__(self) -> None:
        self.literal: dict[str, _Node[T]] = {}
        self.param: _Node[T] | None = None
        self.keys: list[RouteKey[T]] = []

    def insert(self, key: RouteKey[T]) -> None:
        node = self
        for segment in key.path.segments:
            if segment is None:
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                node = node.literal.setdefault(segment, _Node())
        node.keys.append(key)
        node.keys.sort(key=_method_order)

    def find(
        self, segments: list[str], i: int, captured: list[str], method: str
    ) -> tuple[RouteKey[T], tuple[str, ...], int] | None:
        """Depth first, literal before template, deeper before shallower: specificity order."""
        if i < len(segments):
            segment = segments[i]
            child = self.literal.get(segment)
            if child is not None:
                found = child.find(segments, i + 1, captured, method)
                if found is not None:
                    return found
            if self.param is not None and segment:
                captured.append(segment)
                found = self.param.find(segments, i + 1, captured, method)
                captured.pop()
                if found is not None:
                    return found
        for key in self.keys:
            methods = key.methods
            if methods is None or method in methods:
                return key, tuple(captured), i
        return None

    def methods_on(self, segments: list[str], i: int, allow: set[str]) -> None:
        """Add the methods of every route whose pattern matches the path (for Allow)."""
        if i < len(segments):
            segment = segments[i]
            child = self.literal.get(segment)
            if child is not None:
                child.methods_on(segments, i + 1, allow)
            if self.param is not None and segment:
                self.param.methods_on(segments, i + 1, allow)
        for key in self.keys:
            if key.methods is not None:
                allow |= key.methods


def _method_order(key: RouteKey[T]) -> tuple[int, int, str]:
    if key.methods is None:
        return (1, 0, key.name)
    return (0, len(key.methods), key.name)


def with_implied(methods: Iterable[str] | None) -> frozenset[str] | None:
    """The methods a route answers: as listed, plus HEAD wherever GET is."""
    if methods is None:
        return None
    found = set(methods)
    if "GET" in found:
        found.add("HEAD")
    return frozenset(found)


def split_host(host: str) -> str:
    """The host without its port: ``api.example.com:8443`` → ``api.example.com``."""
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() else host


class Router(Generic[T]):
    def __init__(self, keys: list[RouteKey[T]]) -> None:
        self._exact: dict[str, _Node[T]] = {}
        self._wildcards: list[tuple[HostPattern, _Node[T]]] = []
        self._any: _Node[T] = _Node()
        wildcards: dict[str, _Node[T]] = {}
        patterns: dict[str, HostPattern] = {}
        for key in keys:
            host = key.host
            if host is None:
                node = self._any
            elif host.wildcard:
                node = wildcards.setdefault(host.text, _Node())
                patterns[host.text] = host
            else:
                node = self._exact.setdefault(host.text, _Node())
            node.insert(key)
        # More labels first ("*.eu.example.com" before "*.example.com"), then by text.
        order = sorted(patterns.values(), key=lambda h: (-h.text.count("."), h.text))
        self._wildcards = [(h, wildcards[h.text]) for h in order]
        self._by_host = bool(self._exact or self._wildcards)
        self._any_only = [self._any]

    def _nodes(self, host: str) -> list[_Node[T]]:
        """The trees to search for ``host``, most specific first."""
        nodes = []
        bare = split_host(host)
        node = self._exact.get(host)
        if node is not None:
            nodes.append(node)
        if bare != host:
            node = self._exact.get(bare)
            if node is not None:
                nodes.append(node)
        for pattern, wildcard in self._wildcards:
            subject = host if pattern.with_port else bare
            suffix = pattern.suffix
            if len(subject) > len(suffix) and subject.endswith(suffix):
                nodes.append(wildcard)
        nodes.append(self._any)
        return nodes

    def match(
        self, host: str | None, path: str, method: str
    ) -> Matched[T] | MethodNotAllowed | None:
        """``host`` is the Host header, lower-case (with its port, if it has one)."""
        segments = path[1:].split("/")
        nodes = self._nodes(host) if host is not None and self._by_host else self._any_only
        for node in nodes:
            found = node.find(segments, 0, [], method)
            if found is not None:
                break
        else:
            allow: set[str] = set()
            for node in nodes:
                node.methods_on(segments, 0, allow)
            if allow:
                return MethodNotAllowed(tuple(m for m in METHOD_ORDER if m in allow))
            return None
        key, values, depth = found
        prefix = sum(map(len, segments[:depth])) + depth if depth else 0
        params = dict(zip(key.path.params, values, strict=True)) if values else {}
        return Matched(key.value, params, prefix)
