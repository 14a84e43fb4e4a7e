"""Reading contract files (JSON or YAML) into plain JSON values.

YAML is read with the safe loader and then folded back to the JSON data model: mapping keys
become strings (``200:`` is the status ``"200"``), dates become ISO strings, and aliases keep
sharing one object. A document that would expand past a bounded number of values (an alias
bomb) or that contains itself is refused.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml

from interlink.contracts._document import check_expansion
from interlink.errors import ContractError

#: Contract files larger than this are refused rather than parsed.
MAX_FILE_BYTES = 64 * 1024 * 1024

_YAML_SUFFIXES = {".yaml", ".yml"}

try:  # The C loader is an order of magnitude faster on large OpenAPI documents.
    _SafeLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _SafeLoader = yaml.SafeLoader


def load_document(path: Path | str) -> Any:
    """Parse ``path`` as JSON (``.json``) or YAML (anything else) and return the JSON value."""
    file = Path(path)
    text = _read_text(file)
    try:
        if file.suffix.lower() == ".json":
            return json.loads(text)
        return _parse_yaml(text, file)
    except json.JSONDecodeError as exc:
        raise ContractError(
            f"{file}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise ContractError(f"{file}: document is nested too deeply to read") from None


def load_contract(path: Path | str) -> dict[str, Any]:
    """Load an OpenAPI document or JSON Schema file; the top level must be a mapping."""
    file = Path(path)
    value = load_document(file)
    if isinstance(value, bool):
        # ``true``/``false`` are valid JSON Schemas; keep them usable as documents.
        return {} if value else {"not": {}}
    if not isinstance(value, dict):
        raise ContractError(f"{file}: expected a mapping at the top level, found {_kind_of(value)}")
    return value


def _read_text(file: Path) -> str:
    try:
        size = file.stat().st_size
        if file.is_dir():
            raise ContractError(f"{file}: is a directory, not a contract file")
        if size > MAX_FILE_BYTES:
            raise ContractError(f"{file}: file is too large ({size} bytes)")
        return file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ContractError(f"{file}: no such file") from None
    except UnicodeDecodeError:
        raise ContractError(f"{file}: not UTF-8 text") from None
    except OSError as exc:
        raise ContractError(f"{file}: cannot read: {exc.strerror or exc}") from None


def _parse_yaml(text: str, file: Path) -> Any:
    try:
        documents = list(yaml.load_all(text, Loader=_SafeLoader))  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ContractError(f"{file}: invalid YAML{where}: {problem}") from None
    if not documents:
        raise ContractError(f"{file}: file is empty")
    if len(documents) > 1:
        raise ContractError(f"{file}: holds {len(documents)} YAML documents, expected one")
    value = _to_json(documents[0], {})
    check_expansion(value, str(file))  # alias bombs and self-containing aliases stop here
    return value


def _to_json(value: Any, seen: dict[int, Any]) -> Any:
    """Fold YAML-only values into JSON ones, preserving shared (aliased) objects."""
    if isinstance(value, dict):
        done = seen.get(id(value))
        if done is not None:
            return done
        out: dict[str, Any] = {}
        seen[id(value)] = out
        for key, item in value.items():
            out[_key(key)] = _to_json(item, seen)
        return out
    if isinstance(value, list):
        done = seen.get(id(value))
        if done is not None:
            return done
        items: list[Any] = []
        seen[id(value)] = items
        items.extend(_to_json(item, seen) for item in value)
        return items
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, dt.date | dt.datetime):
        return key.isoformat()
    return str(key)


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"
