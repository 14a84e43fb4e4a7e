"""Findings: what `check` reports, each located at file:line:col."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from interlink.errors import EstateError

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Location:
    file: Path
    line: int = 1
    col: int = 1

    def render(self, root: Path | None = None) -> str:
        shown = self.file
        if root is not None:
            try:
                shown = self.file.relative_to(root)
            except ValueError:
                shown = self.file
        return f"{shown}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Finding:
    """One problem found in the estate. ``code`` is stable so CI can filter on it."""

    severity: Severity
    code: str
    message: str
    location: Location | None = None
    hint: str | None = None
    subject: str | None = None  # "Kind/name" of the object concerned, when there is one
    details: tuple[str, ...] = field(default=())

    def render(self, root: Path | None = None) -> str:
        where = self.location.render(root) + ": " if self.location else ""
        text = f"{where}{self.severity}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_json(self, root: Path | None = None) -> dict[str, object]:
        loc = self.location
        file: str | None = None
        if loc is not None:
            file = loc.render(root).rsplit(":", 2)[0]
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": file,
            "line": loc.line if loc else None,
            "col": loc.col if loc else None,
            "hint": self.hint,
            "subject": self.subject,
            "details": list(self.details),
        }


class EstateLoadError(EstateError):
    """The estate has errors; ``findings`` holds every one of them, located."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        errors = [f for f in self.findings if f.severity == "error"]
        first = errors[0].render() if errors else "estate has errors"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)
