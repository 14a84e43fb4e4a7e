"""A flow as a run pins it: its spec as JSON, the hash of that, and the steps the engine runs.

A run keeps the definition it started with, so a run resumed after a restart follows the same
steps even when the estate changed meanwhile. The engine runs ``map``, ``filter``, ``call``
(with its ``compensate``) and ``publish``; a flow using any other step kind is refused before a
run starts, and ``check`` says so (``estate/not_yet.py``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from interlink.errors import ConfigError
from interlink.estate.kinds.flow import EnrichStep, FlowSpec, iter_steps
from interlink.estate.not_yet import FLOW_STEPS_RUN as RUN_KINDS


def pin(spec: FlowSpec) -> tuple[dict[str, Any], str]:
    """The spec as JSON (as the estate spells it) and its sha256."""
    definition = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return definition, hashlib.sha256(text.encode()).hexdigest()


def load(definition: dict[str, Any]) -> FlowSpec:
    return FlowSpec.model_validate(definition)


def unsupported(spec: FlowSpec) -> list[str]:
    """The steps, as ``name (kind)``, that the engine does not run yet."""
    missing = []
    for step in iter_steps([*spec.steps, *spec.on_error]):
        if step.type not in RUN_KINDS:
            missing.append(f"{step.name} ({step.type})")
        elif isinstance(step, EnrichStep) and step.source.data_product is not None:
            missing.append(f"{step.name} (enrich from a dataProduct)")
    return missing


def check_runnable(flow: str, spec: FlowSpec) -> None:
    missing = unsupported(spec)
    if missing:
        raise ConfigError(
            f"Flow/{flow} cannot run: only {', '.join(sorted(RUN_KINDS))} steps run yet, "
            f"not {', '.join(missing)}"
        )
