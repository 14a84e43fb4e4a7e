"""Small helpers shared by the estate tests: write files, patch them, render findings."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import interlink.examples
from interlink.estate.check import CheckResult, check_estate
from interlink.estate.findings import Finding
from interlink.estate.loader import load_estate

RETAIL = Path(interlink.examples.__file__).parent / "retail"


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


def check_messages(root: Path) -> list[str]:
    result = check_estate(root)
    return rendered(result.findings, result.estate.root)


def codes(result: CheckResult) -> list[str]:
    return [finding.code for finding in result.findings]
