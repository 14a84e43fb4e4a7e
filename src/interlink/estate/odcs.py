"""Open Data Contract Standard (ODCS v3) files as a DataProduct's contract.

A DataProduct's ``contract.file`` names an ODCS document (YAML or JSON). It is validated
against the standard's JSON Schema, shipped by the ``open-data-contract-standard`` package, and
its one schema object read as the product's columns: each property's ``logicalType``,
``required`` (not nullable), ``unique``, ``classification: pii``, ``enum`` values (allowed),
``logicalTypeOptions`` ``minimum``/``maximum``/``pattern``; and a ``rowCount`` quality rule of
the object (``mustBeBetween``, ``mustBeGreaterOrEqualTo``, ``mustBeLessOrEqualTo``) as the row
count bounds. Columns the product's own ``contract.columns`` lists win over the file's.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from interlink.estate.kinds.data import Column, DataContract, RowCount

#: ODCS logical types a product column can have.
TYPES = ("string", "integer", "number", "boolean", "date", "timestamp")


class OdcsError(ValueError):
    """An ODCS file that cannot be a product's contract: unreadable, invalid against the
    standard's schema, or using what a product does not hold (several objects, an array)."""


@dataclass(frozen=True)
class OdcsContract:
    columns: list[Column]
    row_count: RowCount | None


@functools.cache
def _validator() -> Any:
    from importlib import resources

    import jsonschema_rs

    text = resources.files("open_data_contract_standard").joinpath("schema.json").read_text()
    return jsonschema_rs.validator_for(json.loads(text))


def validate(document: Any) -> None:
    """OdcsError with the first place ``document`` breaks the ODCS JSON Schema."""
    for error in _validator().iter_errors(document):
        where = "/".join(str(p) for p in error.instance_path) or "(top)"
        raise OdcsError(f"not a valid ODCS v3 contract at {where}: {error.message}")


def read_contract(path: Path) -> OdcsContract:
    """The columns and row count bounds of the ODCS contract at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OdcsError(f"cannot read {path.name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise OdcsError(f"{path.name} is not UTF-8 text") from None
    try:
        # As JSON sees it: YAML's dates and times become their text, as ODCS writes them.
        document = json.loads(json.dumps(yaml.safe_load(text), default=str))
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise OdcsError(f"{path.name} is not YAML or JSON: {' '.join(str(exc).split())}") from None
    validate(document)
    return from_document(document)


def from_document(document: dict[str, Any]) -> OdcsContract:
    objects = document.get("schema") or []
    if len(objects) != 1:
        raise OdcsError(
            f"a data product's contract describes one schema object, this one {len(objects)}"
        )
    table = objects[0]
    columns = [_column(prop) for prop in table.get("properties") or []]
    if not columns:
        raise OdcsError(f"schema object {table.get('name')!r} has no properties")
    try:
        bounds = _row_count(table.get("quality") or [])
    except ValidationError as exc:
        said = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise OdcsError(f"the rowCount quality rule: {said}") from None
    except (ValueError, TypeError):
        raise OdcsError("the rowCount quality rule's bounds are not whole numbers") from None
    return OdcsContract(columns, bounds)


def _column(prop: dict[str, Any]) -> Column:
    name = prop.get("name")
    kind = prop.get("logicalType", "string")
    if kind not in TYPES:
        raise OdcsError(
            f"property {name!r}: logicalType {kind} is not one a product column holds "
            f"({', '.join(TYPES)})"
        )
    options = prop.get("logicalTypeOptions") or {}
    enum = prop.get("enum")
    try:
        return Column.model_validate(
            {
                "name": name,
                "type": kind,
                "description": prop.get("description", ""),
                "nullable": not prop.get("required", False),
                "unique": bool(prop.get("unique", False) or prop.get("primaryKey", False)),
                "pii": str(prop.get("classification", "")).lower() == "pii",
                "allowed": [v["value"] if isinstance(v, dict) else v for v in enum]
                if enum
                else None,
                "minimum": options.get("minimum"),
                "maximum": options.get("maximum"),
                "pattern": options.get("pattern"),
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise OdcsError(f"property {name!r}: {first['msg']}") from None


def _row_count(quality: list[dict[str, Any]]) -> RowCount | None:
    for rule in quality:
        if rule.get("metric") != "rowCount":
            continue
        if "mustBeBetween" in rule:
            low, high = rule["mustBeBetween"]
            return RowCount(min=int(low), max=int(high))
        if "mustBeGreaterOrEqualTo" in rule:
            return RowCount(min=int(rule["mustBeGreaterOrEqualTo"]))
        if "mustBeGreaterThan" in rule:
            return RowCount(min=int(rule["mustBeGreaterThan"]) + 1)
        if "mustBeLessOrEqualTo" in rule:
            return RowCount(max=int(rule["mustBeLessOrEqualTo"]))
        if "mustBeLessThan" in rule:
            return RowCount(max=int(rule["mustBeLessThan"]) - 1)
        if "mustBe" in rule:
            return RowCount(min=int(rule["mustBe"]), max=int(rule["mustBe"]))
    return None


def effective(contract: DataContract, base: Path | None) -> DataContract:
    """``contract`` with its file's columns and row count merged in (the contract's own
    columns win by name, and come first); ``base`` is the directory the file is relative to."""
    if contract.file is None:
        return contract
    if base is None:
        raise OdcsError("the contract file's directory is not known")
    found = read_contract(base / contract.file)
    own = {c.name for c in contract.columns}
    columns = [*contract.columns, *(c for c in found.columns if c.name not in own)]
    return contract.model_copy(
        update={"columns": columns, "row_count": contract.row_count or found.row_count}
    )
