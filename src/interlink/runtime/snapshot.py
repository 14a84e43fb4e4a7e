"""An immutable, compiled view of one estate revision: what every component serves from.

Compiling happens off the request path; the runtime then swaps the reference in one step, so a
request sees either the old snapshot or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from interlink.connectors.registry import registry
from interlink.estate.check import CheckResult, check_estate
from interlink.estate.findings import EstateLoadError, Finding
from interlink.estate.graph import Graph, build_graph
from interlink.estate.model import Estate
from interlink.observe.inventory import Connection, Holders, declared
from interlink.store import Revision


@dataclass(frozen=True)
class Snapshot:
    estate: Estate
    findings: tuple[Finding, ...]  # warnings, and passed sunsets: nothing else is an error
    content_hash: str
    object_hashes: dict[str, str]
    revision: Revision | None = None

    @cached_property
    def graph(self) -> Graph:
        """The estate's graph, built on first use: only the admin API shows it, and for a large
        estate it takes megabytes that a gateway never needs."""
        return build_graph(self.estate)

    @cached_property
    def holders(self) -> Holders:
        """The estate's Consumers indexed by scope (who may call a Route), built on first use:
        fifty Routes over ten thousand Consumers would otherwise be half a million checks."""
        return Holders(self.estate)

    @cached_property
    def declared(self) -> tuple[Connection, ...]:
        """The connections the estate declares, the inventory's declared side: worked out
        once per revision, on first use, and merged with what is observed on each read."""
        return tuple(declared(self.estate))

    def with_revision(self, revision: Revision) -> Snapshot:
        return Snapshot(self.estate, self.findings, self.content_hash, self.object_hashes, revision)


def compile_snapshot(estate_dir: Path) -> Snapshot:
    """Load and check the estate; raise EstateLoadError (with every finding) on errors."""
    result = check_estate(estate_dir, connectors=registry())
    if not result.runnable:
        raise EstateLoadError(result.findings)
    return _snapshot(result)


def _snapshot(result: CheckResult) -> Snapshot:
    estate = result.estate
    object_hashes = {  # keyed by the estate's own key strings, not copies of them
        key: _hash_json(item.obj.model_dump(mode="json", by_alias=True))
        for key, item in estate.objects.items()
    }
    return Snapshot(estate, tuple(result.findings), content_hash(estate), object_hashes)


def content_hash(estate: Estate) -> str:
    """SHA-256 over every estate and contract file (path relative to the root, then bytes)."""
    digest = hashlib.sha256()
    files = sorted({*estate.files, *estate.contracts})
    for file in files:
        try:
            rel = file.relative_to(estate.root)
        except ValueError:
            rel = file
        digest.update(str(rel).encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def _hash_json(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def change_summary(before: dict[str, str] | None, after: dict[str, str]) -> dict[str, Any]:
    """Which objects a revision added, removed and changed, against the one before it."""
    before = before or {}
    return {
        "objects": len(after),
        "added": sorted(k for k in after if k not in before),
        "removed": sorted(k for k in before if k not in after),
        "changed": sorted(k for k in after if k in before and before[k] != after[k]),
    }
