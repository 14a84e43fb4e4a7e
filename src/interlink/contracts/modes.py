"""Compatibility modes (as Confluent Schema Registry defines them) over a version history."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from interlink.contracts._findings import Finding
from interlink.contracts.difference import Difference
from interlink.contracts.jsonschema_compat import CONSEQUENCES, SchemaComparer, check_roots
from interlink.contracts.policy import Policy
from interlink.contracts.refs import Resolver
from interlink.contracts.report import CompatReport
from interlink.estate.kinds.contracts import CompatibilityMode, Direction

_BOTH = "readers of either version cannot read data written with the other"


def check_schemas(
    old: Any,
    new: Any,
    *,
    mode: CompatibilityMode | str = CompatibilityMode.BACKWARD,
    policy: Policy | str = Policy.STRICT,
    old_path: Path | None = None,
    new_path: Path | None = None,
) -> CompatReport:
    """Check one new schema against one old schema under ``mode``."""
    chosen = CompatibilityMode.parse(mode)
    resolver = Resolver()
    old_doc = resolver.add_root(old, path=old_path, label=_label(old_path, "old schema"))
    new_doc = resolver.add_root(new, path=new_path, label=_label(new_path, "new schema"))
    check_roots(resolver, old_doc, new_doc)
    comparers = _comparers(resolver, chosen, Policy.parse(policy))
    return CompatReport.of(_differences(comparers, old, old_doc, new, new_doc, ""))


def check_against_history(
    candidate: Any,
    history: Sequence[Any],
    mode: CompatibilityMode | str = CompatibilityMode.BACKWARD,
    policy: Policy | str = Policy.STRICT,
    base_path: Path | None = None,
) -> CompatReport:
    """Check ``candidate`` against earlier versions (oldest first, version 1 is ``history[0]``).

    Non-transitive modes check the latest version only; transitive modes check every version.
    Each difference's message starts with "against version N:". ``base_path`` is the file or
    directory relative ``$ref``\\ s of all versions resolve against.
    """
    chosen = CompatibilityMode.parse(mode)
    if not chosen.directions or not history:
        return CompatReport(compatible=True, differences=[])
    resolver = Resolver()
    new_doc = resolver.add_root(candidate, path=_dir(base_path), label="candidate schema")
    numbered = list(enumerate(history, start=1))
    targets = numbered if chosen.transitive else numbered[-1:]
    olds = [
        (
            version,
            schema,
            resolver.add_root(schema, path=_dir(base_path), label=f"version {version}"),
        )
        for version, schema in targets
    ]
    check_roots(resolver, new_doc, *(doc for _, _, doc in olds))
    comparers = _comparers(resolver, chosen, Policy.parse(policy))
    found: list[Difference] = []
    for version, schema, old_doc in olds:
        lead = f"against version {version}: "
        found.extend(_differences(comparers, schema, old_doc, candidate, new_doc, lead))
    return CompatReport.of(found)


def _comparers(resolver: Resolver, mode: CompatibilityMode, policy: Policy) -> list[SchemaComparer]:
    return [SchemaComparer(resolver, direction=d, policy=policy) for d in mode.directions]


def _differences(
    comparers: list[SchemaComparer],
    old: Any,
    old_doc: Any,
    new: Any,
    new_doc: Any,
    lead: str,
) -> list[Difference]:
    """Run each direction and merge: a change breaks if it breaks either direction."""
    merged: dict[tuple[str, str, str], tuple[Finding, set[Direction]]] = {}
    for comparer in comparers:
        for finding in comparer.run(old, old_doc, new, new_doc, "#"):
            key = (finding.code, finding.pointer, finding.text)
            first, broken = merged.setdefault(key, (finding, set()))
            if finding.breaking:
                broken.add(comparer.direction)
                if not first.breaking:
                    merged[key] = (finding, broken)
    out: list[Difference] = []
    for finding, broken in merged.values():
        consequence = (
            _BOTH if len(broken) > 1 else CONSEQUENCES[next(iter(broken))] if broken else ""
        )
        out.append(finding.to_difference("#", "", consequence, lead))
    return out


def _dir(path: Path | None) -> Path | None:
    """History versions share one location: resolve against its directory, not the file."""
    if path is None:
        return None
    return path if path.is_dir() else path.parent


def _label(path: Path | None, fallback: str) -> str:
    return str(path) if path is not None and not path.is_dir() else fallback
