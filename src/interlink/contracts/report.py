"""The outcome of a compatibility check and its renderings (JSON, text, Markdown)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from interlink.contracts.difference import Difference


@dataclass(frozen=True, slots=True)
class CompatReport:
    """Whether a change is compatible, and every difference found (breaking or not)."""

    compatible: bool
    differences: list[Difference] = field(default_factory=list)

    @classmethod
    def of(cls, differences: Iterable[Difference]) -> CompatReport:
        """A report whose verdict follows from its differences."""
        found = list(differences)
        return cls(compatible=not any(d.breaking for d in found), differences=found)

    @property
    def breaking(self) -> list[Difference]:
        return [d for d in self.differences if d.breaking]

    def to_json(self) -> dict[str, Any]:
        return {
            "compatible": self.compatible,
            "differences": [d.to_json() for d in self.differences],
        }

    def _ordered(self) -> list[Difference]:
        # Breaking differences first: they are what a reviewer has to act on.
        return sorted(self.differences, key=lambda d: not d.breaking)

    def _summary(self) -> str:
        breaking = len(self.breaking)
        other = len(self.differences) - breaking
        if not self.differences:
            return "no differences"
        return f"{breaking} breaking, {other} non-breaking"

    def to_text(self) -> str:
        verdict = "compatible" if self.compatible else "NOT compatible"
        lines = [f"{verdict}: {self._summary()}"]
        for diff in self._ordered():
            lines.append(f"  [{diff.severity}] {diff.code} at {diff.pointer}")
            lines.append(f"      {diff.message}")
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        if self.compatible:
            heading = "### ✅ Compatible contract change"
        else:
            heading = "### ❌ Breaking contract change"
        lines = [heading, "", f"{self._summary().capitalize()}."]
        if self.differences:
            lines += ["", "| | Change | Location | What it means |", "|---|---|---|---|"]
            for diff in self._ordered():
                mark = {"breaking": "❌", "non-breaking": "✅", "info": "ℹ️"}[diff.severity]  # noqa: RUF001
                lines.append(
                    f"| {mark} | `{diff.code}` | `{_cell(diff.pointer)}` | {_cell(diff.message)} |"
                )
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Keep a value inside one Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")
