"""Report renderings: the JSON shape, plain text and a pull-request comment."""

from __future__ import annotations

from interlink.contracts import CompatReport, Difference, check_schemas

BREAKING = Difference("TYPE_CHANGED", "#/properties/zip", "property 'zip' changed | type", True)
MINOR = Difference(
    "ENUM_EXTENDED", "#/properties/tier", "property 'tier' now also allows 'x'", False
)
HINT = Difference("DEFAULT_CHANGED", "#/properties/n", "property 'n' changed default", False)


def test_json_shape_is_exact() -> None:
    report = check_schemas(
        {"type": "object", "properties": {"zip": {"type": "string"}}},
        {"type": "object", "properties": {"zip": {"type": "integer"}}},
    )
    data = report.to_json()
    assert set(data) == {"compatible", "differences"}
    assert data["compatible"] is False
    (difference,) = data["differences"]
    assert set(difference) == {"code", "pointer", "message", "breaking", "severity"}
    assert difference["code"] == "TYPE_CHANGED"
    assert difference["pointer"] == "#/properties/zip"
    assert difference["breaking"] is True
    assert difference["severity"] == "breaking"


def test_verdict_follows_differences() -> None:
    assert CompatReport.of([MINOR, HINT]).compatible
    assert not CompatReport.of([MINOR, BREAKING]).compatible
    assert CompatReport.of([]).to_json() == {"compatible": True, "differences": []}


def test_severity_is_derived() -> None:
    assert BREAKING.severity == "breaking"
    assert MINOR.severity == "non-breaking"
    assert HINT.severity == "info"
    assert Difference("X", "#", "m", False, "breaking").severity == "non-breaking"
    assert Difference("X", "#", "m", False, "info").severity == "info"


def test_text_lists_breaking_first() -> None:
    text = CompatReport.of([MINOR, BREAKING]).to_text()
    lines = text.splitlines()
    assert lines[0] == "NOT compatible: 1 breaking, 1 non-breaking"
    assert "TYPE_CHANGED" in lines[1]
    assert "ENUM_EXTENDED" in lines[3]
    assert CompatReport.of([]).to_text() == "compatible: no differences\n"


def test_markdown_is_a_pull_request_comment() -> None:
    markdown = CompatReport.of([MINOR, BREAKING, HINT]).to_markdown()
    lines = markdown.splitlines()
    assert lines[0].startswith("### ❌")
    assert "| | Change | Location | What it means |" in lines
    row = next(line for line in lines if "TYPE_CHANGED" in line)
    assert row.startswith("| ❌ | `TYPE_CHANGED` | `#/properties/zip` |")
    assert "changed \\| type" in row  # a pipe in a message stays inside its cell
    assert markdown.index("TYPE_CHANGED") < markdown.index("ENUM_EXTENDED")
    clean = CompatReport.of([]).to_markdown()
    assert clean.startswith("### ✅")
    assert "|" not in clean
