"""The console's forms drawn from the estate's JSON Schema: every kind renders one, every
object of the example estate goes into a form and back unchanged, and bad values are said
field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlink.admin.console import documents
from interlink.admin.console.render import _env
from interlink.admin.console.schema_form import attach, build, form_of, split
from interlink.connectors.registry import registry
from interlink.estate.json_schema import estate_json_schema, kind_schema
from interlink.estate.kinds import KINDS
from interlink.estate.loader import load_estate
from interlink.estate.yamlsource import parse_documents

RETAIL = Path(__file__).resolve().parents[2] / "src" / "interlink" / "examples" / "retail"


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_renders_a_form(kind: str) -> None:
    schema, defs = kind_schema(kind)
    assert defs == estate_json_schema()["$defs"]  # the schema `interlink schema` prints
    form = form_of(schema, defs)
    names = [leaf.name for leaf in form.leaves()]
    assert "f:metadata.name" in names
    assert len(names) == len(set(names))
    macro = _env.get_template("_edit_fields.html").module.fields  # type: ignore[attr-defined]
    page = str(macro(form.fields, {}, {}))
    for name in names:
        assert f'name="{name}"' in page
    assert page.count("<fieldset>") == page.count("</fieldset>")


def _examples() -> list[tuple[str, dict[str, Any]]]:
    estate, _ = load_estate(RETAIL)
    out = []
    for item in estate:
        file = item.doc.file
        docs, _ = parse_documents(file.read_text(encoding="utf-8"), file, json_values=True)
        out.append((item.key, docs[item.doc.index].data))
    return out


@pytest.mark.parametrize(("key", "document"), _examples(), ids=lambda v: str(v)[:40])
def test_every_example_object_goes_into_its_form_and_back_unchanged(
    key: str, document: dict[str, Any]
) -> None:
    kind = document["kind"]
    schema, defs = kind_schema(kind)
    form = form_of(schema, defs)
    connector = (document.get("spec") or {}).get("connector")
    if kind == "System" and connector:
        spec = next(s for s in registry().specs() if s.name == connector)
        attach(form, ("spec", "connection"), dict(spec.config), spec.title)
    values, extra = split(form, document)
    built = build(form, kind, values, extra)
    assert built.errors == {}
    assert built.document == document


def test_bad_values_are_said_by_field_and_left_out() -> None:
    schema, defs = kind_schema("System")
    form = form_of(schema, defs)
    built = build(
        form,
        "System",
        {
            "f:metadata.name": "Bad Name",
            "f:spec.domain": "sales",
            "f:spec.criticality": "extreme",
            "f:spec.tls.verify": "perhaps",
            "f:spec.country": "Germany",
        },
        "spec:\n  domain: other\n",
    )
    assert set(built.errors) == {
        "f:metadata.name",
        "f:spec.criticality",
        "f:spec.tls.verify",
        "f:spec.country",
        "yaml",
    }
    assert "set both in the form and in the YAML: spec.domain" in built.errors["yaml"]
    assert built.document == {
        "apiVersion": "interlink/v1",
        "kind": "System",
        "spec": {"domain": "sales"},
    }


def test_a_connectors_secret_takes_only_a_reference() -> None:
    schema, defs = kind_schema("System")
    form = form_of(schema, defs)
    spec = next(s for s in registry().specs() if s.name == "postgresql")
    attach(form, ("spec", "connection"), dict(spec.config), spec.title)
    secret = next(leaf for leaf in form.leaves() if leaf.path == ("spec", "connection", "password"))
    assert secret.widget == "secret"
    plain = build(form, "System", {secret.name: "hunter2"}, "")
    assert "reference" in plain.errors[secret.name]
    ref = build(form, "System", {secret.name: "${secret:db-password}"}, "")
    assert ref.document["spec"]["connection"]["password"] == "${secret:db-password}"


def test_an_estate_secret_reference_field_is_write_only() -> None:
    _, defs = kind_schema("Team")
    channel = defs["Channel"]["properties"]["secret"]["anyOf"][0]
    assert channel["writeOnly"] is True


def test_a_documents_neighbours_and_comments_stay_as_written() -> None:
    text = "# head\na: 1\n---\n# two\nb: 2\n---\nc: 3\n"
    assert documents.spans(text) == [(0, 12), (12, 27), (27, 36)]
    assert documents.replace(text, 1, "b: 20\n") == "# head\na: 1\n---\n# two\nb: 20\n---\nc: 3\n"
    assert documents.replace(text, 0, "a: 10\n") == "# head\na: 10\n---\n# two\nb: 2\n---\nc: 3\n"
    assert documents.append(text, "d: 4\n") == text + "---\nd: 4\n"
    assert documents.append(None, "d: 4\n") == "d: 4\n"


def test_the_macro_marks_invalid_fields() -> None:
    schema, defs = kind_schema("Api")
    form = form_of(schema, defs)
    macro = _env.get_template("_edit_fields.html").module.fields  # type: ignore[attr-defined]
    page = str(
        macro(form.fields, {"f:spec.version": "x"}, {"f:spec.version": "'x' is not a whole number"})
    )
    assert 'aria-invalid="true" aria-describedby="field-spec-version-error"' in page
    assert "is not a whole number" in page
