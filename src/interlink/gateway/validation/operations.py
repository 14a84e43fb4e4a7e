"""A route's contract operations at the paths the gateway serves them, and finding one.

Each path of the Api's OpenAPI document is placed under the route's public prefix the way
``interlink export`` places it (:func:`~interlink.contracts.route_paths.public_path`, after the
contract's server path): with ``/api/customers`` rewritten to ``/customers``, the contract's
``/customers/{id}`` is served at ``/api/customers/{id}``. Operations the route's methods exclude
are left out.

:class:`OperationMatcher` finds the operation of a request path: a dictionary lookup for paths
without parameters, then the templates with as many segments, the most specific first (a literal
segment beats a parameter, as OpenAPI asks: ``/customers/me`` before ``/customers/{id}``). A
segment may also mix text and parameters (``/files/{name}.json``). Paths are compared exactly as
the contract writes them: ``/customers/`` is not ``/customers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from interlink.contracts import _pointer
from interlink.contracts.openapi_export import _server_path
from interlink.contracts.route_paths import public_path
from interlink.errors import ContractError
from interlink.estate.kinds import Api, Route
from interlink.estate.model import Estate
from interlink.gateway.routing import with_implied
from interlink.gateway.state import SharedState
from interlink.gateway.validation.documents import ContractDocuments, documents_for
from interlink.gateway.validation.params import Param

METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_TEMPLATE = re.compile(r"\{([^{}/]+)\}")
# Headers OpenAPI says a parameter may not describe: the protocol owns them.
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_DEFAULT_STYLE: Final = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}


@dataclass(frozen=True, slots=True)
class ParamGroup:
    """The parameters of one location, validated together as one object."""

    location: str  # "path" | "query" | "headers" (as in violation pointers)
    params: tuple[Param, ...]
    validator: Any
    required: bool  # one of them is
    by_header: dict[bytes, Param] = field(default_factory=dict)  # headers: by lower-case name


@dataclass(frozen=True, slots=True)
class BodySpec:
    required: bool
    # Media type (lower case, without parameters; ranges allowed) → JSON validator or None.
    media: dict[str, Any]

    @property
    def accepted(self) -> str:
        return ", ".join(self.media)

    def select(self, media: str) -> tuple[bool, Any]:
        """Whether ``media`` is accepted, and the validator its JSON content meets (or None)."""
        media_map = self.media
        if media in media_map:
            found = media_map[media]
        else:
            kind = media.partition("/")[0] + "/*"
            if kind in media_map:
                found = media_map[kind]
            elif "*/*" in media_map:
                found = media_map["*/*"]
            else:
                return False, None
        return True, found if is_json(media) else None


@dataclass(frozen=True, slots=True)
class ResponseSpec:
    validator: Any  # for its JSON content, or None
    json_only: bool  # the contract describes only JSON content for it


@dataclass(slots=True)
class Operation:
    method: str  # upper case
    template: str  # the public path template
    path: ParamGroup | None = None
    query: ParamGroup | None = None
    headers: ParamGroup | None = None
    body: BodySpec | None = None
    responses: dict[str, ResponseSpec] = field(default_factory=dict)
    simple: bool = False  # no parameters and no body: nothing to read from the request

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"

    def response(self, status: int) -> ResponseSpec | None:
        """The response the contract describes for ``status``: exact, range, then default."""
        responses = self.responses
        return (
            responses.get(str(status))
            or responses.get(f"{status // 100}XX")
            or responses.get("default")
        )


Methods = dict[str, Operation]


@dataclass(frozen=True, slots=True)
class _Template:
    pattern: re.Pattern[str]  # the whole path; a group per parameter
    names: tuple[str, ...]
    methods: Methods


class OperationMatcher:
    def __init__(self, operations: list[Operation]) -> None:
        by_template: dict[str, Methods] = {}
        for op in operations:
            by_template.setdefault(op.template, {})[op.method] = op
        self.exact: dict[str, Methods] = {}
        templates: dict[int, list[tuple[tuple[int, ...], _Template]]] = {}
        for template, methods in by_template.items():
            if "{" not in template:
                self.exact[template] = methods
                continue
            parts = template.split("/")[1:]
            pattern, rank = "", []
            for part in parts:
                if not _TEMPLATE.search(part):
                    pattern += "/" + re.escape(part)
                    rank.append(0)
                elif _TEMPLATE.fullmatch(part):
                    pattern += "/([^/]+)"
                    rank.append(2)
                else:
                    pattern += "/" + _mixed(part)
                    rank.append(1)
            names = tuple(_TEMPLATE.findall(template))
            entry = _Template(re.compile(pattern), names, methods)
            templates.setdefault(len(parts), []).append((tuple(rank), entry))
        # At the first segment where two templates differ, a literal beats a parameter.
        self.templates = {
            n: tuple(t for _, t in sorted(entries, key=lambda e: e[0]))
            for n, entries in templates.items()
        }

    def match(self, path: str) -> tuple[Methods, dict[str, str]] | None:
        """The operations at ``path`` by method, and the path parameters' raw values."""
        found = self.exact.get(path)
        if found is not None:
            return found, {}
        for template in self.templates.get(path.count("/"), ()):
            matched = template.pattern.fullmatch(path)
            if matched is not None:
                return template.methods, dict(zip(template.names, matched.groups(), strict=True))
        return None

    def allowed(self, methods: Methods) -> tuple[str, ...]:
        found = set(methods)
        if "GET" in found:
            found.add("HEAD")
        order = [m.upper() for m in METHODS]
        return tuple(m for m in order if m in found)


def _mixed(part: str) -> str:
    pattern, last = "", 0
    for match in _TEMPLATE.finditer(part):
        pattern += re.escape(part[last : match.start()]) + "([^/]+?)"
        last = match.end()
    return pattern + re.escape(part[last:])


def is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def media_type(value: bytes | str | None) -> str:
    """``Application/JSON; charset=utf-8`` → ``application/json``."""
    if value is None:
        return "application/octet-stream"  # RFC 9110 §8.3: what a body without one may be
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return text.partition(";")[0].strip().lower()


# --- compiling -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteContract:
    api: str
    matcher: OperationMatcher
    operations: tuple[Operation, ...]


def route_contract(route: Route, estate: Estate, state: SharedState) -> RouteContract:
    """The operations ``route`` serves, compiled; ContractError when that is not possible."""
    spec = route.spec
    assert spec.api is not None
    api_item = estate.get("Api", spec.api)
    if api_item is None or not isinstance(api_item.obj, Api):
        raise ContractError(f"Api/{spec.api} does not exist")
    docs = documents_for(estate, api_item.resolve_file(api_item.obj.spec.contract), state)
    root = docs.root
    doc = docs.document(root)
    paths = doc.get("paths") if isinstance(doc, dict) else None
    if not isinstance(paths, dict):
        raise ContractError(f"the contract of Api/{spec.api} has no paths")
    base = _server_path(doc)
    rewrite = spec.rewrite.path if spec.rewrite else None
    allowed = with_implied(spec.match.methods)
    operations: list[Operation] = []
    for template, raw_item in paths.items():
        served = public_path(base + str(template), spec.match.path, rewrite)
        if served is None:
            continue
        item, where, pointer = docs.deref(raw_item, root, _pointer.join("", "paths", template))
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            raw_op = item.get(method)
            if not isinstance(raw_op, dict) or (allowed and method.upper() not in allowed):
                continue
            label = f"{method.upper()} {served}"
            try:
                operations.append(
                    _operation(docs, method, served, item, raw_op, where, pointer + "/" + method)
                )
            except ContractError as exc:
                raise ContractError(f"{label}: {exc}") from None
    if not operations:
        prefix = rewrite or spec.match.path
        raise ContractError(f"the contract of Api/{spec.api} describes no operation under {prefix}")
    return RouteContract(spec.api, OperationMatcher(operations), tuple(operations))


def _operation(
    docs: ContractDocuments,
    method: str,
    template: str,
    item: dict[str, Any],
    raw: dict[str, Any],
    where: Path,
    pointer: str,
) -> Operation:
    op = Operation(method.upper(), template)
    declared: dict[tuple[str, str], tuple[Param, Any]] = {}
    item_pointer = pointer.rsplit("/", 1)[0]
    for owner, owner_pointer in ((item, item_pointer), (raw, pointer)):
        listed = owner.get("parameters")
        if not isinstance(listed, list):
            continue
        for index, entry in enumerate(listed):
            found = _param(docs, entry, where, f"{owner_pointer}/parameters/{index}")
            if found is not None:
                declared[(found[0].location, found[0].name)] = found
    groups: dict[str, list[tuple[Param, Any]]] = {}
    for param, schema in declared.values():
        groups.setdefault(param.location, []).append((param, schema))
    captured = set(_TEMPLATE.findall(template))
    for location, out in (("path", "path"), ("query", "query"), ("header", "headers")):
        entries = groups.get(location, [])
        if location == "path":
            entries = [e for e in entries if e[0].name in captured]
        if entries:
            setattr(op, out, _group(docs, out, entries))
    op.body = _body(docs, raw.get("requestBody"), where, pointer + "/requestBody")
    op.responses = _responses(docs, raw.get("responses"), where, pointer + "/responses")
    op.simple = op.path is None and op.query is None and op.headers is None and op.body is None
    return op


def _param(
    docs: ContractDocuments, entry: Any, where: Path, pointer: str
) -> tuple[Param, Any] | None:
    value, where, pointer = docs.deref(entry, where, pointer)
    if not isinstance(value, dict):
        return None
    name, location = value.get("name"), value.get("in")
    if not isinstance(name, str) or location not in ("path", "query", "header"):
        return None  # cookies are not read
    if location == "header":
        name = name.lower()
        if name in _IGNORED_HEADERS:
            return None
    style = value.get("style") or _DEFAULT_STYLE[location]
    explode = value.get("explode")
    explode = (style == "form") if not isinstance(explode, bool) else explode
    required = location == "path" or value.get("required") is True
    schema: Any = True
    shape: str = "scalar"
    types: frozenset[str] | None = None
    properties: dict[str, frozenset[str] | None] = {}
    if "schema" in value:
        schema = docs.ref(where, pointer + "/schema")
        shape, types, properties = _shape(docs, value["schema"], where)
    elif isinstance(value.get("content"), dict) and value["content"]:
        media, entry_value = next(iter(value["content"].items()))
        if isinstance(entry_value, dict) and "schema" in entry_value:
            schema = docs.ref(where, _pointer.join(pointer, "content", media, "schema"))
        shape = "json"
    plain = shape == "scalar" and style in ("simple", "form")
    param = Param(
        str(name), location, required, str(style), explode, shape, types, properties, plain
    )
    return param, schema


def _shape(
    docs: ContractDocuments, schema: Any, where: Path
) -> tuple[str, frozenset[str] | None, dict[str, frozenset[str] | None]]:
    types = docs.json_types(schema, where)
    if types is not None and "array" in types and "object" not in types:
        resolved, at, _ = docs.deref(schema, where, "")
        items = resolved.get("items") if isinstance(resolved, dict) else None
        return "array", docs.json_types(items, at) if items is not None else None, {}
    if types is not None and "object" in types and "array" not in types:
        return "object", None, _properties(docs, schema, where, 0)
    return "scalar", types, {}


def _properties(
    docs: ContractDocuments, schema: Any, where: Path, depth: int
) -> dict[str, frozenset[str] | None]:
    resolved, at, _ = docs.deref(schema, where, "")
    found: dict[str, frozenset[str] | None] = {}
    if not isinstance(resolved, dict) or depth > 8:
        return found
    for member in resolved.get("allOf") or ():
        found.update(_properties(docs, member, at, depth + 1))
    properties = resolved.get("properties")
    if isinstance(properties, dict):
        for name, sub in properties.items():
            found[str(name)] = docs.json_types(sub, at)
    return found


def _group(docs: ContractDocuments, location: str, entries: list[tuple[Param, Any]]) -> ParamGroup:
    schema = {
        "type": "object",
        "properties": {param.name: sub for param, sub in entries},
        "required": [param.name for param, _ in entries if param.required],
    }
    params = tuple(p for p, _ in entries)
    required = any(p.required for p in params)
    by_header = {p.name.encode("latin-1"): p for p in params} if location == "headers" else {}
    return ParamGroup(location, params, docs.compile(schema), required, by_header)


def _body(docs: ContractDocuments, raw: Any, where: Path, pointer: str) -> BodySpec | None:
    if raw is None:
        return None
    value, where, pointer = docs.deref(raw, where, pointer)
    if not isinstance(value, dict):
        return None
    content = value.get("content")
    media: dict[str, Any] = {}
    if isinstance(content, dict):
        for name, entry in content.items():
            key = media_type(str(name))
            validator = None
            if isinstance(entry, dict) and "schema" in entry:
                ref = docs.ref(where, _pointer.join(pointer, "content", name, "schema"))
                validator = docs.compile(ref)
            media[key] = validator
    return BodySpec(value.get("required") is True, media)


def _responses(
    docs: ContractDocuments, raw: Any, where: Path, pointer: str
) -> dict[str, ResponseSpec]:
    out: dict[str, ResponseSpec] = {}
    if not isinstance(raw, dict):
        return out
    for status, entry in raw.items():
        key = str(status).upper() if str(status).lower().endswith("xx") else str(status)
        if key.startswith("X-"):
            continue
        value, at, at_pointer = docs.deref(entry, where, _pointer.join(pointer, str(status)))
        content = value.get("content") if isinstance(value, dict) else None
        validator, json_only = None, False
        if isinstance(content, dict) and content:
            names = [media_type(str(n)) for n in content]
            json_only = all(is_json(n) for n in names)
            for name, media in content.items():
                if is_json(media_type(str(name))) and isinstance(media, dict) and "schema" in media:
                    ref = docs.ref(at, _pointer.join(at_pointer, "content", name, "schema"))
                    validator = docs.compile(ref)
                    break
        out[key] = ResponseSpec(validator, json_only)
    return out
