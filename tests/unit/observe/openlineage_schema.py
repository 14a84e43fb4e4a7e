"""The vendored OpenLineage JSON Schema, as a validator of run events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs

SPEC = Path(__file__).parents[2] / "data" / "openlineage-2-0-2.schema.json"


def run_event_validator() -> Any:
    """The schema's RunEvent, formats checked. Its root is one of a run, dataset or job event;
    what the platform sends must be a run event, so it is judged against that one."""
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    del spec["oneOf"]
    spec["$ref"] = "#/$defs/RunEvent"
    return jsonschema_rs.validator_for(spec, validate_formats=True)
