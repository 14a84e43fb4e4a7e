"""Comparing two contract files: load them, tell what they are, run the right comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from interlink.contracts.loader import load_contract
from interlink.contracts.modes import check_schemas
from interlink.contracts.openapi_diff import diff_openapi
from interlink.contracts.policy import Policy
from interlink.contracts.report import CompatReport
from interlink.errors import ContractError
from interlink.estate.kinds.contracts import CompatibilityMode

Kind = Literal["openapi", "jsonschema"]

__all__ = ["Kind", "detect_kind", "diff_files", "load_contract"]


def detect_kind(doc: Any) -> Kind:
    """``openapi`` for an OpenAPI 3.x document, ``jsonschema`` for a JSON Schema."""
    if isinstance(doc, bool):
        return "jsonschema"
    if not isinstance(doc, dict):
        raise ContractError("a contract must be a mapping (an OpenAPI document or a JSON Schema)")
    if "openapi" in doc:
        return "openapi"
    if "swagger" in doc:
        raise ContractError(
            f"Swagger {doc['swagger']} documents are not supported; convert to OpenAPI 3.x"
        )
    return "jsonschema"


def diff_files(
    old: Path,
    new: Path,
    mode: CompatibilityMode | str = CompatibilityMode.BACKWARD,
    policy: Policy | str = Policy.STRICT,
) -> CompatReport:
    """Compare two contract files of the same kind.

    JSON Schemas are checked under ``mode`` and ``policy``. OpenAPI documents always compare
    requests BACKWARD and responses FORWARD (that is what compatibility means for an API), so
    ``mode`` only matters there as NONE, which skips the check.
    """
    chosen = CompatibilityMode.parse(mode)
    chosen_policy = Policy.parse(policy)
    old_doc, new_doc = load_contract(old), load_contract(new)
    old_kind, new_kind = detect_kind(old_doc), detect_kind(new_doc)
    if old_kind != new_kind:
        raise ContractError(f"cannot compare {old} ({old_kind}) with {new} ({new_kind})")
    if chosen is CompatibilityMode.NONE:
        return CompatReport(compatible=True, differences=[])
    if old_kind == "openapi":
        return diff_openapi(old_doc, new_doc, old_path=old, new_path=new)
    return check_schemas(
        old_doc, new_doc, mode=chosen, policy=chosen_policy, old_path=old, new_path=new
    )
