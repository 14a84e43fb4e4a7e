"""What the estate accepts but the platform does not act on yet, in one place.

The estate model is ahead of the runtime: some fields are validated and documented but read by
nothing, and some objects are only partly run. Saying nothing would let a reader believe they
work, so `check` warns wherever one is used (rules ``NO_EFFECT`` and ``NOT_RUN``, the latter
also at each Flow step of a kind the flow engine does not run: serve runs flows, but not one
with such a step) and `serve` says in one line what it does not run. A DataProduct whose
source type is not read would get `NOT_RUN` at its source (every type is read today). An entry
leaves this table when the feature that reads it lands.

Descriptive fields are not listed: a System's ``criticality`` and ``dataClassification``, a
Consumer's ``type`` and ``contact``, a Team's ``members``. They promise no behaviour; they are
catalogue data that the admin API and the exports serve to people.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from interlink.estate.findings import Finding
from interlink.estate.model import Estate
from interlink.estate.yamlsource import PathKey


@dataclass(frozen=True)
class NoEffect:
    """A field of ``kind`` at ``path`` that is accepted and has no effect yet."""

    kind: str
    path: PathKey  # Python field names, as the models spell them
    field: str  # the field as the YAML spells it
    missing: str  # what is not implemented, in plain words


#: Fields accepted, with no effect yet. Fields of the kinds in NOT_RUN are left out: their
#: objects are not run at all, and are warned about whole.
NO_EFFECT: tuple[NoEffect, ...] = (
    NoEffect(
        "Monitor",
        ("spec", "freshness", "column"),
        "spec.freshness.column",
        "a monitor's freshness is its target's last success; no column is read",
    ),
)

#: The Flow step kinds the flow engine runs (``interlink.flows``); a flow with any other step
#: does not start, and `check` warns at the step.
FLOW_STEPS_RUN: frozenset[str] = frozenset(
    {
        "map",
        "filter",
        "call",
        "publish",
        "choice",
        "enrich",
        "idempotency",
        "wait",
        "split",
        "query",
        "write",
        "file",
        "send",
        "flow",
    }
)

#: Kinds that are checked but not run, with their plural for people.
NOT_RUN: dict[str, tuple[str, str]] = {}


#: What runs of a kind in NOT_RUN all the same, said after its warning.
NOT_RUN_NOTE: dict[str, str] = {}

#: DataProduct source types that are read (queries and refreshes); the others are not yet.
PRODUCT_SOURCES_READ: frozenset[str] = frozenset(
    {"sql", "csv", "json", "parquet", "http", "products"}
)


def no_effect_findings(estate: Estate) -> Iterator[Finding]:
    """A warning at each field of :data:`NO_EFFECT` an estate file sets."""
    for entry in NO_EFFECT:
        for item in estate.loaded_of(entry.kind):
            if _is_set(item.obj, entry.path):
                yield Finding(
                    "warning",
                    "NO_EFFECT",
                    f"{entry.field} has no effect yet: {entry.missing}",
                    item.location(tuple(_alias(item.obj, entry.path)), key=True),
                    subject=item.key,
                )


def not_run_findings(estate: Estate) -> Iterator[Finding]:
    """One warning per object of a kind in :data:`NOT_RUN`, per DataProduct whose source is
    not read; and one at each Flow step of a kind the flow engine does not run."""
    yield from _flow_step_findings(estate)
    yield from _product_findings(estate)
    for kind, (_, plural) in NOT_RUN.items():
        for item in estate.loaded_of(kind):
            note = f" ({NOT_RUN_NOTE[kind]})" if kind in NOT_RUN_NOTE else ""
            yield Finding(
                "warning",
                "NOT_RUN",
                f"{item.key} is checked but not run: {plural} do not run yet{note}",
                item.location(("kind",), key=True),
                subject=item.key,
            )


def _product_findings(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("DataProduct"):
        source = getattr(item.obj.spec, "source", None)
        kind = getattr(getattr(source, "type", None), "value", "")
        if kind not in PRODUCT_SOURCES_READ:
            yield Finding(
                "warning",
                "NOT_RUN",
                f"{item.key} is checked but not run: its {kind} source is not read yet (sources "
                f"read: {', '.join(sorted(PRODUCT_SOURCES_READ))})",
                item.location(("spec", "source", "type")),
                subject=item.key,
            )


def _flow_step_findings(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("Flow"):
        for path, step in _walk(getattr(item.obj.spec, "steps", []), ("spec", "steps")):
            if step.type not in FLOW_STEPS_RUN:
                yield Finding(
                    "warning",
                    "NOT_RUN",
                    f"{item.key}: step {step.name!r} ({step.type}) is not run yet: the flow "
                    f"engine runs {', '.join(sorted(FLOW_STEPS_RUN))} steps, and a flow with "
                    "any other does not start",
                    item.location((*path, "type")),
                    subject=item.key,
                )
            elif step.type == "enrich" and step.source.data_product is not None:
                yield Finding(
                    "warning",
                    "NOT_RUN",
                    f"{item.key}: step {step.name!r} enriches from a DataProduct, which flows "
                    "do not read yet: only an enrich from an Api runs, and a flow with this one "
                    "does not start",
                    item.location((*path, "from", "dataProduct")),
                    subject=item.key,
                )


def _walk(steps: list[Any], path: tuple[str | int, ...]) -> Iterator[tuple[Any, Any]]:
    """Each step with its location, the steps of a choice's branches too."""
    for index, step in enumerate(steps):
        here = (*path, index)
        yield here, step
        for number, branch in enumerate(getattr(step, "branches", None) or []):
            yield from _walk(branch.steps, (*here, "branches", number, "steps"))
        yield from _walk(getattr(step, "otherwise", None) or [], (*here, "otherwise"))


def not_run_line(estate: Estate) -> str | None:
    """What `serve` says at start and on reload about the objects it does not run."""
    counts = []
    for kind, (one, many) in NOT_RUN.items():
        n = len(estate.loaded_of(kind))
        if n:
            counts.append(f"{n} {one if n == 1 else many}")
    if not counts:
        return None
    verb = "is" if len(counts) == 1 and counts[0].startswith("1 ") else "are"
    kinds = _and([many for _, many in NOT_RUN.values()])
    return f"{_and(counts)} {verb} declared and not run: {kinds} do not run yet"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _is_set(obj: Any, path: PathKey) -> bool:
    """Whether the estate file wrote the field at ``path`` (a default is not written)."""
    current = obj
    for part in path:
        if part not in getattr(current, "model_fields_set", ()):
            return False
        current = getattr(current, str(part))
    return True


def _alias(obj: Any, path: PathKey) -> Iterator[str]:
    """``path`` as the YAML spells it (camelCase aliases), to locate the field."""
    current = obj
    for part in path:
        info = type(current).model_fields[str(part)]
        yield info.alias or str(part)
        current = getattr(current, str(part))
