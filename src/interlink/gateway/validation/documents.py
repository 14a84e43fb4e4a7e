"""An Api's OpenAPI document and the files it references, ready to compile validators from.

Schemas are compiled by ``jsonschema-rs`` as JSON Schema 2020-12 against one registry holding
every file the contract reaches through ``$ref`` (local pointers, and relative files beside it,
already loaded with the estate or read once here). Validators never copy a schema: each one is
``{"$ref": "file:///…/contract.yaml#/paths/…/schema"}``, so references, recursion and shared
components resolve the way they do in the file.

OpenAPI 3.0 schemas are a dialect of JSON Schema; before they are registered they are rewritten
to 2020-12 (OpenAPI 3.1 schemas already are):

- ``nullable: true`` adds ``"null"`` to ``type`` (and ``null`` to an ``enum``); without a
  ``type``, a ``$ref``, ``allOf``, ``anyOf`` or ``oneOf`` becomes ``anyOf: [it, {type: null}]``;
- boolean ``exclusiveMinimum``/``exclusiveMaximum`` take the value of ``minimum``/``maximum``.

Remote (``http:``) references are refused rather than fetched. Compiled documents and
validators are cached per estate (one snapshot), so routes that share an Api compile it once.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit
from urllib.request import url2pathname

import jsonschema_rs

from interlink.contracts import _pointer
from interlink.contracts.loader import load_document
from interlink.errors import ContractError
from interlink.estate.model import Estate
from interlink.gateway.state import SharedState, StateKey

#: Most files one contract may pull in through references.
MAX_FILES: Final = 500
#: Longest chain of ``$ref`` → ``$ref`` followed for an OpenAPI object.
MAX_CHAIN: Final = 32

# Maps whose every value is a schema or an OpenAPI object, whatever its key (a property or a
# response may be called "default"); anywhere else, a dict is a schema or an OpenAPI object.
_MAPS = frozenset(
    {
        "properties",
        "patternProperties",
        "$defs",
        "definitions",
        "dependentSchemas",
        "schemas",
        "responses",
        "requestBodies",
        "parameters",
        "headers",
        "content",
        "paths",
    }
)
# Keywords holding instance data, not schemas: never rewritten.
_DATA = frozenset({"example", "examples", "enum", "const", "default"})
_COMPOSED = ("$ref", "allOf", "anyOf", "oneOf")
_FRAGMENT_SAFE = "/~!$&'()*+,;=:@"


class ContractDocuments:
    """The files of one contract in one dialect, registered once; validators compiled on demand."""

    def __init__(self, estate: Estate, root: Path, data: Any) -> None:
        self.root = root
        self.legacy = (
            str(data.get("openapi", "")).startswith("3.0") if isinstance(data, dict) else False
        )
        self._estate = estate
        self._raw: dict[Path, Any] = {root: data}
        self._crawl()
        resources = [(path.as_uri(), self._convert(doc)) for path, doc in self._raw.items()]
        try:
            self.registry = jsonschema_rs.Registry(resources, draft=jsonschema_rs.Draft202012)
        except Exception as exc:  # the library raises several kinds for one cause
            raise ContractError(
                f"{root.name}: cannot register its schemas: {_first(exc)}"
            ) from None
        self._validators: dict[str, Any] = {}

    # --- files -----------------------------------------------------------------------------

    def _crawl(self) -> None:
        pending = list(self._raw.items())
        while pending:
            path, doc = pending.pop()
            for ref in _refs(doc):
                target = self._file_of(ref, path)
                if target is None or target in self._raw:
                    continue
                if len(self._raw) >= MAX_FILES:
                    raise ContractError(f"{self.root.name} references more than {MAX_FILES} files")
                self._raw[target] = self._load(target, ref)
                pending.append((target, self._raw[target]))

    def _file_of(self, ref: str, base: Path) -> Path | None:
        file_part = ref.partition("#")[0]
        if not file_part:
            return None
        if file_part.startswith("file:"):
            return Path(url2pathname(urlsplit(file_part).path)).resolve()
        if urlsplit(file_part).scheme:
            raise ContractError(
                f"$ref '{ref}' in {base.name}: remote references are not fetched "
                "(use a relative file path)"
            )
        return (base.parent / unquote(file_part)).resolve()

    def _load(self, path: Path, ref: str) -> Any:
        contract = self._estate.contracts.get(path)
        if contract is not None:
            return contract.data
        try:
            return load_document(path)
        except ContractError as exc:
            raise ContractError(f"cannot resolve $ref '{ref}': {exc}") from None

    def _convert(self, doc: Any) -> Any:
        return _to_2020(doc, in_map=False) if self.legacy else doc

    # --- OpenAPI objects -------------------------------------------------------------------

    def document(self, path: Path) -> Any:
        """The file at ``path`` as written (before any rewriting)."""
        return self._raw[path]

    def deref(self, value: Any, path: Path, pointer: str) -> tuple[Any, Path, str]:
        """Follow ``$ref`` from ``value`` (found at ``path#pointer``) to what it names."""
        for _ in range(MAX_CHAIN):
            if not (isinstance(value, dict) and isinstance(value.get("$ref"), str)):
                return value, path, pointer
            ref = value["$ref"]
            file_part, _, fragment = ref.partition("#")
            if file_part:
                target = self._file_of(ref, path)
                assert target is not None
                path = target
            node = self._raw[path]
            tokens = _pointer.fragment_tokens(fragment)
            for token in tokens:
                if isinstance(node, dict) and token in node:
                    node = node[token]
                elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                    node = node[int(token)]
                else:
                    raise ContractError(f"cannot resolve $ref '{ref}' in {path.name}")
            value, pointer = node, _pointer.from_tokens(tokens)[1:]
        raise ContractError(f"$ref chain longer than {MAX_CHAIN} in {path.name}")

    # --- validators ------------------------------------------------------------------------

    def ref(self, path: Path, pointer: str) -> dict[str, Any]:
        """A schema that is the one at ``path#pointer``."""
        return {"$ref": path.as_uri() + "#" + quote(pointer, safe=_FRAGMENT_SAFE)}

    def compile(self, schema: Any) -> Any:
        """A validator for ``schema`` (whose references point into the registry); cached."""
        key = json.dumps(schema, sort_keys=True)
        found = self._validators.get(key)
        if found is None:
            try:
                found = jsonschema_rs.Draft202012Validator(
                    schema, registry=self.registry, validate_formats=True
                )
            except Exception as exc:  # ValidationError, ReferencingError, ValueError
                raise ContractError(
                    f"{self.root.name}: cannot compile a schema: {_first(exc)}"
                ) from None
            self._validators[key] = found
        return found

    def json_types(self, schema: Any, path: Path, depth: int = 0) -> frozenset[str] | None:  # noqa: C901 - one branch per keyword that constrains the type
        """The JSON types ``schema`` admits, for reading parameters; None when unconstrained."""
        schema, path, _ = self.deref(schema, path, "")
        if not isinstance(schema, dict) or depth > 16:
            return None
        declared = schema.get("type")
        found: set[str] | None = None
        if isinstance(declared, str):
            found = {declared}
        elif isinstance(declared, list):
            found = {t for t in declared if isinstance(t, str)}
        if found is None and isinstance(schema.get("enum"), list):
            found = {_type_of(v) for v in schema["enum"]}
        for key in ("anyOf", "oneOf"):
            members = schema.get(key)
            if found is None and isinstance(members, list) and members:
                union: set[str] = set()
                for member in members:
                    types = self.json_types(member, path, depth + 1)
                    if types is None:
                        return None
                    union |= types
                found = union
        members = schema.get("allOf")
        if found is None and isinstance(members, list):
            for member in members:
                types = self.json_types(member, path, depth + 1)
                if types is not None:
                    found = set(types)
                    break
        if found is None:
            return None
        if schema.get("nullable") is True:
            found.add("null")
        return frozenset(found)


# The latest estate, and its compiled contracts by path.
DOCUMENTS_KEY: Final[StateKey[tuple[weakref.ref[Estate], dict[Path, ContractDocuments]]]] = (
    StateKey("validation", "documents")
)


def documents_for(estate: Estate, path: Path, state: SharedState) -> ContractDocuments:
    """The compiled contract at ``path``, shared by every route of this estate that serves it."""
    held = state.get(DOCUMENTS_KEY)
    if held is None or held[0]() is not estate:
        held = (weakref.ref(estate), {})
        state[DOCUMENTS_KEY] = held
    cache = held[1]
    found = cache.get(path)
    if found is None:
        contract = estate.contracts.get(path)
        if contract is None or not isinstance(contract.data, dict):
            raise ContractError(f"{path.name} is not loaded as a contract")
        found = cache[path] = ContractDocuments(estate, path, contract.data)
    return found


def _refs(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    seen: set[int] = set()
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        if isinstance(value, dict):
            seen.add(id(value))
            ref = value.get("$ref")
            if isinstance(ref, str):
                found.append(ref)
            stack.extend(value.values())
        elif isinstance(value, list):
            seen.add(id(value))
            stack.extend(value)
    return found


def _to_2020(node: Any, *, in_map: bool) -> Any:  # noqa: C901 - one branch per OpenAPI 3.0 keyword rewritten
    """An OpenAPI 3.0 document (or part) with its schemas written as JSON Schema 2020-12."""
    if isinstance(node, list):
        return [_to_2020(v, in_map=False) for v in node]
    if not isinstance(node, dict):
        return node
    if in_map:
        return {k: _to_2020(v, in_map=False) for k, v in node.items()}
    out = {k: v if k in _DATA else _to_2020(v, in_map=k in _MAPS) for k, v in node.items()}
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        flag = out.get(exclusive)
        if isinstance(flag, bool):
            del out[exclusive]
            if flag and bound in out:
                out[exclusive] = out.pop(bound)
    nullable = out.pop("nullable", None) if isinstance(out.get("nullable"), bool) else None
    if nullable is not True:
        return out
    declared = out.get("type")
    if isinstance(declared, str):
        out["type"] = [declared, "null"]
    elif isinstance(declared, list):
        if "null" not in declared:
            out["type"] = [*declared, "null"]
    elif any(key in out for key in _COMPOSED):
        return {"anyOf": [out, {"type": "null"}]}
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _first(exc: BaseException) -> str:
    return str(getattr(exc, "message", exc)).split("\n", 1)[0]
