"""The request path compiled to C with mypyc, and the guard that never lets a stale build run.

The modules in :data:`MODULES` are plain, strictly typed Python. ``python -m
interlink._build_native`` (run by ``make demo`` and ``make test``) compiles them with mypyc
into extension modules beside their sources, which Python then imports in their place, and
records each source's SHA-256 in ``_native.json``. Every ``import interlink`` compares the
sources with that record (about a millisecond): when any of them changed since the build, when
the record is missing, or when ``INTERLINK_PURE_PYTHON=1``, all of these modules are imported
from source, never a mix, since compiled modules call each other directly rather than through
the module objects. Without a build, as after a plain ``pip install``, everything is pure
Python and behaves the same, only slower. ``python -m interlink._build_native --status`` says
which it is, and ``interlink serve`` logs it.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

#: Compiled together, as one group: what every proxied request runs through, the encoding of
#: its spans (run by the exporter process, at every request's pace when all are traced), and
#: the lineage recorder (its hooks run twice an event of a type that declares a subject) and
#: the encoding of its writes' rows.
MODULES: Final = (
    "interlink.gateway.auth.authentication",
    "interlink.gateway.balancing",
    "interlink.gateway.forwarding",
    "interlink.gateway.ids",
    "interlink.gateway.lifecycle",
    "interlink.gateway.paths",
    "interlink.gateway.plans",
    "interlink.gateway.plans.limiter",
    "interlink.gateway.plans.local",
    "interlink.gateway.protocol",
    "interlink.gateway.proxy",
    "interlink.gateway.request",
    "interlink.gateway.resilience.breaker",
    "interlink.gateway.resilience.guard",
    "interlink.gateway.rewrite",
    "interlink.gateway.routing",
    "interlink.gateway.telemetry.observer",
    "interlink.gateway.telemetry.tracing",
    "interlink.gateway.validation.operations",
    "interlink.gateway.validation.requests",
    "interlink.http.client",
    "interlink.http.connection",
    "interlink.http.pool",
    "interlink.http.streams",
    "interlink.observe.lineage.recorder",
    "interlink.observe.otlp_encoding",
    "interlink.store.lineage_rows",
)
GROUP: Final = "interlink_native"
PURE_ENV: Final = "INTERLINK_PURE_PYTHON"
PACKAGE_DIR: Final = Path(__file__).resolve().parent
MANIFEST: Final = PACKAGE_DIR / "_native.json"


def source(module: str) -> Path:
    path = PACKAGE_DIR.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def extensions(module: str) -> list[Path]:
    """The compiled files of ``module`` that Python would import instead of its source."""
    path = source(module)
    return [
        path.with_name(path.stem + suffix)
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if path.with_name(path.stem + suffix).exists()
    ]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recorded() -> dict[str, str]:
    """Module → source digest, as the last build recorded them; {} without a build."""
    try:
        data = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return {}
    modules = data.get("modules") if isinstance(data, dict) else None
    return {k: v for k, v in modules.items() if isinstance(v, str)} if modules else {}


def stale(record: dict[str, str]) -> list[str]:
    """The modules whose source differs from the build's, that it did not compile, or that it
    compiled but are no longer listed."""
    out = [module for module in record if module not in MODULES]
    for module in MODULES:
        try:
            if record.get(module) != digest(source(module)):
                out.append(module)
        except OSError:
            out.append(module)
    return out


def status(record: dict[str, str] | None = None) -> tuple[bool, str]:
    """(whether the compiled modules would be used, a line saying so and why), against the
    build's ``record`` (read from the manifest when not given)."""
    if not any(extensions(m) for m in MODULES):
        return False, "pure Python (no compiled modules; `make` builds them)"
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return False, f"pure Python ({PURE_ENV} is set)"
    changed = stale(recorded() if record is None else record)
    if changed:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        return False, f"pure Python ({changed[0]}{more} changed since the build; `make` rebuilds)"
    return True, f"compiled with mypyc ({len(MODULES)} modules)"


class _FromSource(importlib.abc.MetaPathFinder):
    """Imports ``modules`` from their ``.py`` files, whatever lies beside them."""

    def __init__(self, modules: frozenset[str]) -> None:
        self.modules = modules

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        return importlib.util.spec_from_file_location(fullname, source(fullname))


_decided: tuple[bool, str] | None = None


def guard() -> None:
    """Use the compiled modules only when they were built from the sources as they are."""
    global _decided
    record = recorded()
    _decided = status(record)
    if not _decided[0]:
        modules = frozenset(MODULES) | frozenset(record)
        if any(extensions(m) for m in modules):
            sys.meta_path.insert(0, _FromSource(modules))


def in_use() -> str:
    """What this process runs, as :func:`guard` decided when ``interlink`` was imported (the
    sources may have changed since)."""
    return (_decided or status())[1]
