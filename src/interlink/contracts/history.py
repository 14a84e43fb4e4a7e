"""An Event's schema history as the registry serves it, and a candidate checked against it.

The candidate is judged as the Event's next schema version, the way `check --against` judges a
new version: against every listed version (whatever its lifecycle) under the Event's
compatibility mode, the latest one only unless the mode is transitive.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlink.contracts.difference import Difference
from interlink.contracts.modes import check_schemas
from interlink.contracts.policy import Policy
from interlink.estate.kinds import Event
from interlink.estate.kinds.base import Lifecycle
from interlink.estate.kinds.contracts import CompatibilityMode
from interlink.estate.model import Estate, Loaded


@dataclass(frozen=True)
class SchemaVersion:
    """One published schema version of an Event, as compiled into the estate."""

    version: int
    lifecycle: Lifecycle
    path: Path
    schema: Any

    @property
    def hash(self) -> str:
        """SHA-256 of the schema as canonical JSON: formatting does not change it."""
        canonical = json.dumps(self.schema, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def schema_versions(estate: Estate, item: Loaded) -> list[SchemaVersion]:
    """The Event's schema versions in order, each with its loaded schema."""
    event = item.obj
    assert isinstance(event, Event)
    out = []
    for listed in event.spec.schemas:
        path = item.resolve_file(listed.file)
        contract = estate.contracts.get(path)
        if contract is not None:  # an estate with an unreadable schema never becomes a snapshot
            out.append(SchemaVersion(listed.version, listed.lifecycle, path, contract.data))
    return out


def latest_active(versions: list[SchemaVersion]) -> SchemaVersion | None:
    active = [v for v in versions if v.lifecycle == Lifecycle.ACTIVE]
    return active[-1] if active else None


@dataclass(frozen=True)
class CandidateReport:
    mode: CompatibilityMode
    policy: Policy
    against: list[int]
    #: (the version compared against, a difference found)
    differences: list[tuple[int, Difference]] = field(default_factory=list)

    @property
    def compatible(self) -> bool:
        return not any(d.breaking for _, d in self.differences)


def check_candidate(
    candidate: Any,
    versions: list[SchemaVersion],
    mode: CompatibilityMode,
    policy: Policy = Policy.STRICT,
) -> CandidateReport:
    """Check ``candidate`` as the version after ``versions`` under ``mode``.

    Each earlier version is compared on its own so every difference names its version. Relative
    ``$ref``\\ s of a version resolve beside its file; the candidate is no file, so it may only
    refer inside itself. Raises ContractError when a reference cannot be resolved or the work
    would be unbounded (see ``jsonschema_compat``).
    """
    targets = versions if mode.transitive else versions[-1:]
    if not mode.directions:
        targets = []
    found: list[tuple[int, Difference]] = []
    for target in targets:
        report = check_schemas(
            target.schema,
            candidate,
            mode=mode,
            policy=policy,
            old_path=target.path,
        )
        found.extend((target.version, d) for d in report.differences)
    return CandidateReport(mode, policy, [t.version for t in targets], found)
