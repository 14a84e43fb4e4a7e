"""Loading and validating the contract files Api and Event objects name.

OpenAPI documents are validated against the official OpenAPI 3.0 / 3.1 schemas and event
schemas against the JSON Schema 2020-12 meta-schema, both with the Rust `jsonschema-rs`
validator (hundreds of times faster than a pure-Python one: an estate of hundreds of contracts
checks in well under a second). On top of that we check what meta-schemas cannot: every `$ref`
resolves, and every `pattern` compiles (in OpenAPI documents too: parameters, bodies and
`components.schemas`, whichever OpenAPI version).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema_rs

from interlink.errors import ContractError
from interlink.estate.findings import Finding
from interlink.estate.model import Contract
from interlink.estate.yamlsource import Document, PathKey, read_documents

MAX_MESSAGE = 200
#: Most meta-schema violations reported for one document.
MAX_PROBLEMS = 20
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


@functools.cache
def _openapi_validator(line: str) -> Any:
    # Find the package's files without importing it: its import alone costs ~0.15 s.
    spec = importlib.util.find_spec("openapi_spec_validator")
    if spec is None or not spec.submodule_search_locations:
        raise ContractError("the openapi-spec-validator package is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    schema_file = folder / "resources" / "schemas" / line / "schema.json"
    return jsonschema_rs.validator_for(json.loads(schema_file.read_text(encoding="utf-8")))


def load_contract(
    path: Path, expected: str, parsed: list[Document] | None = None
) -> tuple[Contract | None, list[Finding]]:
    """Read and validate one contract file; ``expected`` is "openapi" or "jsonschema".

    ``parsed`` holds the file's documents when the estate walk has read them already."""
    if parsed is not None:
        docs = parsed
    elif not _is_file(path):
        return None, [Finding("error", "CONTRACT_MISSING", f"contract file not found: {path}")]
    else:
        docs, problems = read_documents(path, json_values=True)
        if problems:
            return None, problems
    if len(docs) != 1:
        doc = docs[1] if docs else Document(path, 0, None)
        return None, [
            _at(doc, (), "CONTRACT_INVALID", "a contract file holds exactly one document")
        ]
    doc = docs[0]
    contract = Contract(path=path, kind=expected, doc=doc)
    if expected == "openapi":
        return contract, list(_openapi_findings(doc))
    return contract, list(_schema_findings(doc))


def _at(doc: Document, path: PathKey, code: str, message: str, hint: str | None = None) -> Finding:
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return Finding("error", code, message, doc.location(path), hint=hint)


def _openapi_findings(doc: Document) -> Iterator[Finding]:
    data = doc.data
    if not isinstance(data, dict):
        yield _at(doc, (), "OPENAPI_INVALID", "an OpenAPI document is a mapping")
        return
    version = str(data.get("openapi", ""))
    if re.match(r"^3\.0\.\d+$", version):
        line = "v3.0"
    elif re.match(r"^3\.1\.\d+$", version):
        line = "v3.1"
    else:
        where: PathKey = ("openapi",) if "openapi" in data else ()
        yield _at(
            doc,
            where,
            "OPENAPI_VERSION",
            f"unsupported OpenAPI version {version or '(none)'}",
            hint="Interlink reads OpenAPI 3.0.x and 3.1.x",
        )
        return
    # A bad regex is named as such, for 3.0 as for 3.1; the 3.0 meta-schema's own complaint
    # about it (an opaque `oneOf` failure on the enclosing parameter or schema) is left out.
    patterns = list(_pattern_problems(data, ()))
    for problem in patterns:
        yield _at(doc, problem.path, problem.code, problem.message)
    bad = [[str(p) for p in problem.path] for problem in patterns]

    def about_a_bad_regex(error: Any) -> bool:
        at = [str(p) for p in error.instance_path]
        return any(path[: len(at)] == at for path in bad)

    errors = [e for e in _openapi_validator(line).iter_errors(data) if not about_a_bad_regex(e)]
    for error in _most_specific(errors)[:MAX_PROBLEMS]:
        path = tuple(
            str(p) if not isinstance(p, int) or _is_mapping_at(data, error.instance_path, p) else p
            for p in error.instance_path
        )
        yield _at(doc, path, "OPENAPI_INVALID", f"not valid OpenAPI {version}: {error.message}")
    yield from _ref_findings(doc)
    yield from _path_parameter_findings(doc)


def _is_mapping_at(data: Any, instance_path: list[Any], part: Any) -> bool:
    """jsonschema-rs reports mapping keys like "200" as ints; tell them from list indexes."""
    current = data
    for step in instance_path:
        if step is part:
            return isinstance(current, dict)
        if isinstance(current, dict):
            current = current.get(str(step), current.get(step))
        elif isinstance(current, list) and isinstance(step, int) and step < len(current):
            current = current[step]
        else:
            return False
    return False


def _most_specific(errors: list[Any]) -> list[Any]:
    """Keep the deepest errors: an outer `oneOf` failure says less than the field inside it."""
    errors.sort(key=lambda e: -len(e.instance_path))
    kept: list[Any] = []
    for error in errors:
        prefix = list(error.instance_path)
        if not any(list(k.instance_path)[: len(prefix)] == prefix for k in kept):
            kept.append(error)
    kept.sort(key=lambda e: [str(p) for p in e.instance_path])
    return kept


@dataclass(frozen=True)
class SchemaProblem:
    """One reason a value is not a usable JSON Schema 2020-12; ``path`` is where, inside it."""

    path: PathKey
    code: str
    message: str
    hint: str | None = None


@functools.cache
def _schema_validator() -> Any:
    # The 2020-12 meta-schema ships inside jsonschema-rs: a reference to it needs no network.
    return jsonschema_rs.validator_for({"$schema": DRAFT_2020_12, "$ref": DRAFT_2020_12})


def schema_problems(schema: Any, base_dir: Path | None = None) -> list[SchemaProblem]:
    """Why ``schema`` is not a valid JSON Schema 2020-12 (empty when it is one).

    Beyond the meta-schema: every regex compiles and every ``$ref`` resolves. A reference to
    another file resolves against ``base_dir``; without one (a schema that is not a file, such
    as a candidate sent to the admin API) only references inside the schema are allowed.
    """
    if not isinstance(schema, dict | bool):
        return [SchemaProblem((), "SCHEMA_INVALID", "a JSON Schema is a mapping (or true/false)")]
    if isinstance(schema, dict):
        declared = schema.get("$schema")
        if declared is not None and str(declared).rstrip("#") != DRAFT_2020_12:
            return [
                SchemaProblem(
                    ("$schema",),
                    "SCHEMA_DRAFT",
                    f"unsupported $schema {declared}",
                    hint=f"event schemas are JSON Schema 2020-12: {DRAFT_2020_12}",
                )
            ]
    errors = list(_schema_validator().iter_errors(schema))
    if errors:
        return [
            SchemaProblem(
                tuple(e.instance_path), "SCHEMA_INVALID", f"not a valid JSON Schema: {e.message}"
            )
            for e in _most_specific(errors)[:MAX_PROBLEMS]
        ]
    return [*_pattern_problems(schema, ()), *_ref_problems(schema, base_dir)]


def _schema_findings(doc: Document) -> Iterator[Finding]:
    for problem in schema_problems(doc.data, doc.file.parent):
        yield _at(doc, problem.path, problem.code, problem.message, problem.hint)


#: Keywords whose values are data, never schemas: a "pattern" inside them is no regex.
_DATA_KEYWORDS = frozenset({"enum", "const", "examples", "example", "default"})
#: Keywords whose values map names to schemas: their keys are names, never keywords.
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "schemas"}
)


def _pattern_problems(node: Any, path: PathKey, *, names: bool = False) -> Iterator[SchemaProblem]:
    """Every `pattern` and `patternProperties` regex under ``node`` that does not compile.

    ``names``: ``node`` maps names to schemas (``properties``), so its keys are not keywords."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*path, key)
            if names:
                yield from _pattern_problems(value, here)
                continue
            if key == "pattern" and isinstance(value, str):
                yield from _compile(here, value)
            elif key == "patternProperties" and isinstance(value, dict):
                for pattern in value:
                    yield from _compile((*here, pattern), pattern)
            if key not in _DATA_KEYWORDS:
                yield from _pattern_problems(value, here, names=key in _SCHEMA_MAPS)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _pattern_problems(item, (*path, i))


@functools.lru_cache(maxsize=4096)
def _validator_accepts(pattern: str) -> bool:
    """Whether `jsonschema-rs`, which validates requests and events, compiles ``pattern``."""
    try:
        jsonschema_rs.validator_for({"$schema": DRAFT_2020_12, "pattern": pattern})
    except jsonschema_rs.ValidationError:
        return False
    return True


def _compile(path: PathKey, pattern: str) -> Iterator[SchemaProblem]:
    # The validator's regex engine is the judge (`\p{L}` is fine, `\Z` is not); Python's
    # says best what is wrong, when it refuses too.
    if _validator_accepts(pattern):
        return
    try:
        re.compile(pattern)
        reason = "not in the ECMA-262 dialect JSON Schema uses"
    except (re.error, OverflowError) as exc:  # OverflowError: a{99999999999}
        reason = str(exc)
    message = f"invalid regular expression {pattern!r}: {reason}"
    yield SchemaProblem(path, "SCHEMA_PATTERN", message)


def _ref_findings(doc: Document) -> Iterator[Finding]:
    for problem in _ref_problems(doc.data, doc.file.parent):
        yield _at(doc, problem.path, problem.code, problem.message, problem.hint)


def _ref_problems(data: Any, base_dir: Path | None) -> Iterator[SchemaProblem]:
    """Every `$ref` points at something: a local JSON pointer, or a file in ``base_dir``."""
    for path, ref in _refs(data, ()):
        target, _, fragment = ref.partition("#")
        if target.startswith(("http://", "https://", "urn:")):
            continue  # absolute identifiers are resolved by whoever publishes them
        if target:
            if base_dir is None:
                message = f"$ref '{ref}': only references inside this schema are allowed here"
                yield SchemaProblem(path, "REF_UNRESOLVED", message)
            elif not _is_file(base_dir / unquote(target)):
                message = f"$ref '{ref}': file {target} not found"
                yield SchemaProblem(path, "REF_UNRESOLVED", message)
            continue
        if fragment and fragment.startswith("/") and _pointer(data, fragment) is _MISSING:
            message = f"$ref '{ref}' points at nothing in this file"
            yield SchemaProblem(path, "REF_UNRESOLVED", message)


def file_refs(data: Any, base_dir: Path) -> Iterator[Path]:
    """The files ``data``'s `$ref`s name, relative to ``base_dir`` (URLs left out)."""
    for _, ref in _refs(data, ()):
        target = ref.partition("#")[0]
        if target and not target.startswith(("http://", "https://", "urn:")):
            try:
                yield (base_dir / unquote(target)).resolve()
            except (OSError, ValueError):
                continue


def _is_file(path: Path) -> bool:
    """Whether ``path`` names a file; a name too long or holding a NUL byte names none."""
    try:
        return path.resolve().is_file()
    except (OSError, ValueError):
        return False


def _refs(node: Any, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield (*path, key), value
            elif key not in ("enum", "const", "examples", "example", "default"):
                yield from _refs(value, (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _refs(item, (*path, i))


_MISSING = object()


def _pointer(data: Any, pointer: str) -> Any:
    current = data
    for raw in pointer.lstrip("/").split("/"):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _path_parameter_findings(doc: Document) -> Iterator[Finding]:
    """Each `{param}` of a path template is declared as a path parameter, and vice versa."""
    paths = doc.data.get("paths") or {}
    if not isinstance(paths, dict):
        return
    for template, item in paths.items():
        if not isinstance(item, dict):
            continue
        wanted = set(re.findall(r"\{([^}/]+)\}", template))
        shared = _path_params(doc.data, item.get("parameters"))
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
                continue
            if not isinstance(op, dict):
                continue
            declared = shared | _path_params(doc.data, op.get("parameters"))
            for name in sorted(wanted - declared):
                yield _at(
                    doc,
                    ("paths", template, method),
                    "OPENAPI_PATH_PARAM",
                    f"{method.upper()} {template}: path parameter '{name}' is not declared",
                )
            for name in sorted(declared - wanted):
                yield _at(
                    doc,
                    ("paths", template, method),
                    "OPENAPI_PATH_PARAM",
                    f"{method.upper()} {template}: declares path parameter '{name}' "
                    "that is not in the path",
                )


def _path_params(root: Any, params: Any) -> set[str]:
    out: set[str] = set()
    for declared in params if isinstance(params, list) else []:
        param = declared
        if isinstance(param, dict) and isinstance(param.get("$ref"), str):
            ref = param["$ref"]
            param = _pointer(root, ref[1:]) if ref.startswith("#/") else None
        if (
            isinstance(param, dict)
            and param.get("in") == "path"
            and isinstance(param.get("name"), str)
        ):
            out.add(param["name"])
    return out
