"""`check` on data subjects: a key that reads no single value of the event is an error at it."""

from __future__ import annotations

from pathlib import Path

from interlink.estate.check import check_estate
from tests.unit.estate.helpers import copy_retail, edit, rendered

EVENT = "events/customer-address-updated.yaml"


def _subject_findings(root: Path) -> list[str]:
    result = check_estate(root)
    return [
        line
        for line, f in zip(rendered(result.findings, root), result.findings, strict=True)
        if f.code == "SUBJECT_KEY" or "subject" in f.message
    ]


def test_the_example_subject_checks_clean(tmp_path: Path) -> None:
    assert _subject_findings(copy_retail(tmp_path / "e")) == []


def test_a_key_outside_the_event_or_its_schema_is_an_error_at_the_key(tmp_path: Path) -> None:
    root = copy_retail(tmp_path / "e")
    edit(root / EVENT, "key: data.customerId}", "key: customerId}")
    (line,) = _subject_findings(root)
    assert line.startswith(f"{EVENT}:20:34: ")
    assert line.endswith(
        "error: Event/customer.address-updated: subject key 'customerId' starts at "
        "'customerId', not at an attribute of the CloudEvent (data, id, source, subject, "
        "time, type) (did you mean data.customerId?)"
    )
    edit(root / EVENT, "key: customerId}", "key: data.custId}")
    (line,) = _subject_findings(root)
    assert line.endswith("subject key 'custId' is not a field of the latest schema")
    edit(root / EVENT, "key: data.custId}", "key: '$string(data.customerId'}")
    (line,) = _subject_findings(root)
    assert "subject key does not compile: JSONata" in line


def test_a_jsonata_key_and_a_product_subject(tmp_path: Path) -> None:
    root = copy_retail(tmp_path / "e")
    edit(root / EVENT, "key: data.customerId}", "key: '$uppercase(data.customerId)'}")
    assert _subject_findings(root) == []
    product = root / "data" / "customer-addresses.yaml"
    text = product.read_text(encoding="utf-8")
    product.write_text(
        text.replace("  contract:", "  subject: {type: customer, key: nope}\n  contract:", 1),
        encoding="utf-8",
    )
    found = _subject_findings(root)
    assert any("subject key 'nope' is not a column of its contract" in f for f in found)
