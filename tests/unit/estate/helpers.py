"""Small helpers shared by the estate tests: write files, patch them, render findings."""

from __future__ import annotations

import shutil
import textwrap
from datetime import date
from pathlib import Path

import interlink.examples
from interlink.estate.check import CheckResult, check_estate
from interlink.estate.findings import Finding
from interlink.estate.loader import load_estate

RETAIL = Path(interlink.examples.__file__).parent / "retail"
#: A day before the example's sunset (customers-v1, 2027-06-30): results that count errors do
#: not change with the calendar when checked as of this day.
TODAY = date(2026, 11, 22)


def copy_retail(target: Path) -> Path:
    """A fresh copy of the retail example estate at ``target``."""
    shutil.copytree(RETAIL, target)
    return target


def write(root: Path, relative: str, text: str) -> Path:
    """Write ``text`` (dedented) to ``root/relative``, creating folders on the way."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def edit(path: Path, old: str, new: str, *, count: int = 1) -> None:
    """Replace ``old`` by ``new`` in ``path``; ``old`` must occur exactly ``count`` times."""
    text = path.read_text(encoding="utf-8")
    found = text.count(old)
    assert found == count, f"{old!r} occurs {found} times in {path.name}, expected {count}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def rendered(findings: list[Finding], root: Path) -> list[str]:
    return [finding.render(root) for finding in findings]


def load_messages(root: Path) -> list[str]:
    """What loading ``root`` reports, rendered relative to the estate root."""
    estate, findings = load_estate(root)
    return rendered(findings, estate.root)


def check(root: Path) -> CheckResult:
    return check_estate(root)


def other_findings(result: CheckResult) -> list[Finding]:
    """The findings besides lifecycle bindings and objects not run yet.

    The retail example binds a Route and two Consumers to the deprecated customers-v1, and
    declares a DataProduct and a Flow step kind, which are not run yet, so every copy
    of it has those warnings; tests of the other checks leave them (and fields with no effect
    yet) aside, and test_lifecycle.py and test_not_yet.py cover them. Its Policy's rules (no
    route without authentication…) are test_policies.py's to check.
    """
    return [
        f
        for f in result.findings
        if not f.code.startswith(("LIFECYCLE_", "POLICY_"))
        and f.code not in ("NOT_RUN", "NO_EFFECT")
    ]


def check_messages(root: Path) -> list[str]:
    result = check_estate(root)
    return rendered(other_findings(result), result.estate.root)


def codes(result: CheckResult) -> list[str]:
    return [finding.code for finding in other_findings(result)]
