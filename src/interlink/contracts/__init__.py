"""Contract compatibility: JSON Schema rules, compatibility modes and OpenAPI diffs.

The public surface::

    compare(old, new, direction=..., policy=...)       -> list[Difference]
    check_schemas(old, new, mode=..., policy=...)      -> CompatReport
    check_against_history(candidate, history, mode=..) -> CompatReport
    diff_openapi(old, new, old_path=..., new_path=...) -> CompatReport
    diff_files(old_path, new_path, mode=..., policy=..) -> CompatReport
    load_contract(path), detect_kind(doc)
"""

from interlink.contracts.difference import Difference, Severity
from interlink.contracts.files import detect_kind, diff_files
from interlink.contracts.jsonschema_compat import compare
from interlink.contracts.loader import load_contract
from interlink.contracts.modes import check_against_history, check_schemas
from interlink.contracts.openapi_diff import diff_openapi
from interlink.contracts.policy import Policy
from interlink.contracts.report import CompatReport
from interlink.estate.kinds.contracts import CompatibilityMode, Direction

__all__ = [
    "CompatReport",
    "CompatibilityMode",
    "Difference",
    "Direction",
    "Policy",
    "Severity",
    "check_against_history",
    "check_schemas",
    "compare",
    "detect_kind",
    "diff_files",
    "diff_openapi",
    "load_contract",
]
