"""The editor's draft check from the running snapshot: only the edited file is parsed, and the
findings are exactly those of the full check of a copy of the estate with the file in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.admin.estate_files import Shown, check_with, current_estate
from interlink.estate.amend import amended
from interlink.runtime.snapshot import Snapshot, compile_snapshot

NEW_SYSTEM = """apiVersion: interlink/v1
kind: System
metadata: {name: shipping-hub, owner: logistics}
spec:
  domain: logistics
  baseUrl: http://127.0.0.1:9199
"""


def _compare(
    root: Path, snapshot: Snapshot, relative: str, text: str, *, incremental: bool = True
) -> list[Shown]:
    """The draft's findings, after making sure both ways agree and the expected way ran."""
    base = current_estate(root, snapshot)
    assert base is not None
    assert (amended(base, root / relative, text) is not None) is incremental
    quick = check_with(root, relative, text, snapshot)
    assert quick == check_with(root, relative, text)
    return quick


def _edited(root: Path, relative: str, old: str, new: str) -> str:
    text = (root / relative).read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def _codes(found: list[Shown]) -> set[str]:
    return {f.code for f in found}


def test_a_valid_edit(retail_dir: Path) -> None:
    snapshot = compile_snapshot(retail_dir)
    text = _edited(retail_dir, "systems/sales.yaml", "title: CRM", "title: The CRM")
    found = _compare(retail_dir, snapshot, "systems/sales.yaml", text)
    assert not [f for f in found if f.severity == "error"]


def test_an_unknown_reference(retail_dir: Path) -> None:
    snapshot = compile_snapshot(retail_dir)
    text = _edited(
        retail_dir,
        "apis.yaml",
        "system: crm\n  contract: contracts/customers-v2",
        "system: crmm\n  contract: contracts/customers-v2",
    )
    found = _compare(retail_dir, snapshot, "apis.yaml", text)
    unknown = [f for f in found if f.code == "REF_UNKNOWN"]
    assert [(f.file, f.message) for f in unknown] == [
        ("apis.yaml", "Api/customers-v2 refers to System/crmm, which does not exist")
    ]


def test_a_duplicate_name_in_a_later_file(retail_dir: Path) -> None:
    # operations.yaml (read first) defines erp: the edited sales.yaml holds the duplicate.
    snapshot = compile_snapshot(retail_dir)
    text = (retail_dir / "systems/sales.yaml").read_text(encoding="utf-8")
    text += "---\n" + NEW_SYSTEM.replace("shipping-hub", "erp")
    found = _compare(retail_dir, snapshot, "systems/sales.yaml", text)
    assert [f.file for f in found if f.code == "DUPLICATE_NAME"] == ["systems/sales.yaml"]


def test_a_duplicate_name_in_an_earlier_file_is_checked_in_full(retail_dir: Path) -> None:
    # The edited operations.yaml is read before sales.yaml, whose crm becomes the duplicate.
    snapshot = compile_snapshot(retail_dir)
    text = (retail_dir / "systems/operations.yaml").read_text(encoding="utf-8")
    text += "---\n" + NEW_SYSTEM.replace("shipping-hub", "crm")
    found = _compare(retail_dir, snapshot, "systems/operations.yaml", text, incremental=False)
    assert [f.file for f in found if f.code == "DUPLICATE_NAME"] == ["systems/sales.yaml"]


def test_a_new_object_in_a_new_file(retail_dir: Path) -> None:
    snapshot = compile_snapshot(retail_dir)
    found = _compare(retail_dir, snapshot, "systems/shipping.yaml", NEW_SYSTEM)
    assert not [f for f in found if f.severity == "error"]
    broken = NEW_SYSTEM.replace("owner: logistics", "owner: nobody")
    found = _compare(retail_dir, snapshot, "systems/shipping.yaml", broken)
    assert "REF_UNKNOWN" in _codes(found)


def test_an_edit_that_fixes_an_existing_error(retail_dir: Path) -> None:
    # A passed sunset is an error the runtime still runs with: the snapshot holds it.
    (retail_dir / "apis.yaml").write_text(
        _edited(retail_dir, "apis.yaml", "sunset: 2027-06-30", "sunset: 2020-01-01"),
        encoding="utf-8",
    )
    snapshot = compile_snapshot(retail_dir)
    assert "LIFECYCLE_SUNSET_PASSED" in {f.code for f in snapshot.findings}
    same = (retail_dir / "apis.yaml").read_text(encoding="utf-8")
    passed = "LIFECYCLE_SUNSET_PASSED"
    assert passed in _codes(_compare(retail_dir, snapshot, "apis.yaml", same))
    fixed = _edited(retail_dir, "apis.yaml", "sunset: 2020-01-01", "sunset: 2099-12-31")
    assert passed not in _codes(_compare(retail_dir, snapshot, "apis.yaml", fixed))


@pytest.mark.parametrize(
    ("relative", "old", "new"),
    [
        ("contracts/customers-v2.openapi.yaml", "openapi:", "openapi:"),  # a contract
        ("contracts/customers.odcs.yaml", "version", "version"),  # a data product's contract
        ("notes/other-tool.yaml", "", "kind: Something\n"),  # another tool's file
    ],
)
def test_files_that_are_not_objects_are_checked_in_full(
    retail_dir: Path, relative: str, old: str, new: str
) -> None:
    snapshot = compile_snapshot(retail_dir)
    path = retail_dir / relative
    text = _edited(retail_dir, relative, old, new) if path.exists() else new
    _compare(retail_dir, snapshot, relative, text, incremental=False)


def test_a_snapshot_behind_the_directory_is_not_used(retail_dir: Path) -> None:
    snapshot = compile_snapshot(retail_dir)
    (retail_dir / "systems/operations.yaml").write_text(
        _edited(retail_dir, "systems/operations.yaml", "name: erp", "name: erp2"),
        encoding="utf-8",
    )
    assert current_estate(retail_dir, snapshot) is None
    text = _edited(retail_dir, "systems/sales.yaml", "title: CRM", "title: The CRM")
    found = check_with(retail_dir, "systems/sales.yaml", text, snapshot)
    assert found == check_with(retail_dir, "systems/sales.yaml", text)
    assert "REF_UNKNOWN" in _codes(found)  # what referred to erp: read from the directory
