"""Reading an estate directory into typed objects, each located at file:line:col."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from interlink.errors import EstateError
from interlink.estate.findings import Finding, Location
from interlink.estate.flow_templates import expand
from interlink.estate.hints import describe, did_you_mean
from interlink.estate.kinds import API_VERSION, KINDS
from interlink.estate.model import Estate, Loaded
from interlink.estate.yamlsource import Document, PathKey, read_documents

ESTATE_SUFFIXES = (".yaml", ".yml")
#: Flow test files (``estate/flow_tests.py``): beside the flows, not estate objects.
TEST_SUFFIXES = (".test.yaml", ".test.yml")
SKIPPED_DIRS = {".git", ".interlink", "node_modules", ".venv", "__pycache__"}


def estate_files(root: Path) -> tuple[list[Path], list[Finding]]:
    """YAML files under ``root`` (or ``root`` itself), sorted, hidden folders and flow test
    files left out."""
    files, problems = yaml_files(root)
    if root.is_file():
        return files, problems
    return [f for f in files if not f.name.endswith(TEST_SUFFIXES)], problems


def yaml_files(root: Path) -> tuple[list[Path], list[Finding]]:
    """Every YAML file under ``root`` (or ``root`` itself), sorted, hidden folders left out."""
    if root.is_file():
        return [root], []
    if not root.exists():
        raise EstateError(f"{root}: no such file or directory")
    if not root.is_dir():
        raise EstateError(f"{root}: not a directory or YAML file")
    if not os.access(root, os.R_OK | os.X_OK):
        raise EstateError(f"{root}: permission denied")
    found: list[Path] = []
    problems: list[Finding] = []

    def on_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        problems.append(
            Finding(
                "error", "DIR_UNREADABLE", f"cannot read directory: {exc.strerror}", Location(where)
            )
        )

    for folder, dirs, names in os.walk(root, onerror=on_error):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        found.extend(Path(folder) / n for n in names if n.endswith(ESTATE_SUFFIXES))
    return sorted(found), problems


def load_estate(root: Path) -> tuple[Estate, list[Finding]]:
    """Load every Interlink object under ``root``; problems come back as findings.

    Raises :class:`EstateError` only when the estate cannot be read at all.
    """
    root = root.resolve()
    files, findings = estate_files(root)
    estate = Estate(root=root if root.is_dir() else root.parent, files=files)
    for file in files:
        findings.extend(add_file(estate, file, *read_documents(file, json_values=True)))
    return estate, findings


def add_file(
    estate: Estate, file: Path, docs: list[Document], unreadable: list[Finding]
) -> list[Finding]:
    """Add the objects of one file's documents to ``estate`` (files in sorted order: the first
    definition of a name wins); what is wrong with them comes back as findings."""
    findings = list(unreadable)
    before = len(estate.objects)
    for doc in docs:
        loaded, problems = object_from(doc)
        findings.extend(problems)
        if loaded is None:
            continue
        first = estate.objects.get(loaded.key)
        if first is not None:
            findings.append(
                Finding(
                    "error",
                    "DUPLICATE_NAME",
                    f"{loaded.key} is defined twice",
                    loaded.location(("metadata", "name")),
                    hint=f"first defined at {first.location().render(estate.root)}",
                    subject=loaded.key,
                )
            )
            continue
        estate.objects[loaded.key] = loaded
        # The typed object is what everything reads from now on; the document keeps what
        # locating a finding needs (file, index, text), not a second copy of the data.
        doc.data = None
    if not unreadable and len(estate.objects) == before:
        estate.other_documents[file] = docs
    return findings


def object_from(doc: Document) -> tuple[Loaded | None, list[Finding]]:
    """The estate object in ``doc``, or None for documents that are not Interlink objects."""
    data = doc.data
    if not isinstance(data, dict):
        return None, []
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if api_version is None and kind is None:
        return None, []  # another tool's YAML, or a contract file: not ours
    if api_version is not None and not str(api_version).startswith("interlink/"):
        return None, []  # e.g. a Backstage descriptor kept in the same repository
    if api_version is None:
        if not isinstance(kind, str) or kind not in KINDS:
            return None, []
        where = doc.location(("kind",))
        return None, [
            Finding("error", "APIVERSION_MISSING", f"missing 'apiVersion: {API_VERSION}'", where)
        ]
    if api_version != API_VERSION:
        where = doc.location(("apiVersion",))
        msg = f"apiVersion '{api_version}' is not supported"
        return None, [
            Finding("error", "APIVERSION_UNSUPPORTED", msg, where, hint=f"use {API_VERSION}")
        ]
    if kind is None:
        return None, [Finding("error", "KIND_MISSING", "missing 'kind'", doc.location())]
    if not isinstance(kind, str) or kind not in KINDS:
        hint = did_you_mean(str(kind), KINDS) or "kinds: " + ", ".join(KINDS)
        return None, [
            Finding(
                "error",
                "KIND_UNKNOWN",
                f"unknown kind '{kind}'",
                doc.location(("kind",)),
                hint=hint,
            )
        ]
    model = KINDS[kind]
    if kind == "Flow":
        data, found = expand(data, doc)
        if found:
            return None, found
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        return None, validation_findings(exc, doc, model, data)
    return Loaded(obj, doc), []


def validation_findings(
    exc: ValidationError, doc: Document, model: type[Any], data: dict[str, Any]
) -> list[Finding]:
    name = data.get("metadata", {}).get("name") if isinstance(data.get("metadata"), dict) else None
    subject = f"{data.get('kind')}/{name}" if isinstance(name, str) else None
    out: list[Finding] = []
    seen: set[tuple[PathKey, str]] = set()
    for error in exc.errors(include_url=False):
        path = _data_path(data, tuple(error["loc"]))
        message, hint = describe(error, model, path)
        if (path, message) in seen:  # unions report the same spot once per member
            continue
        seen.add((path, message))
        on_key = error["type"] == "extra_forbidden"
        code = (
            "FIELD_UNKNOWN"
            if on_key
            else ("FIELD_MISSING" if error["type"] == "missing" else "FIELD_INVALID")
        )
        out.append(
            Finding(
                "error", code, message, doc.location(path, key=on_key), hint=hint, subject=subject
            )
        )
    return out


def _data_path(data: Any, loc: tuple[int | str, ...]) -> PathKey:
    """The part of pydantic's ``loc`` that exists in the data (union tags left out)."""
    path: list[int | str] = []
    current = data
    for part in loc:
        in_map = isinstance(current, dict) and isinstance(part, str) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_map or in_list:
            current = current[part]
            path.append(part)
    return tuple(path)
