"""`interlink catalog search|term` on the retail example: lines, JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlink.cli.main import main
from tests.unit.estate.helpers import RETAIL

ESTATE = ("--estate", str(RETAIL))


def interlink(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_search_prints_a_table_best_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = interlink(capsys, "catalog", "search", "zip code", *ESTATE)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "MATCHED", "WHERE"]
    assert lines[1].split() == [
        "Term",
        "Postal",
        "code",
        "synonym:",
        "zip",
        "code",
        "glossary.yaml:22",
    ]


def test_search_as_json_with_a_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = interlink(
        capsys, "catalog", "search", "street", "--kind", "product", "--format", "json", *ESTATE
    )
    assert code == 0
    body = json.loads(out)
    assert body["query"] == "street"
    # customer-360 has a street too; customer-addresses is the one its contract file backs.
    assert {r["name"] for r in body["results"]} == {"customer-addresses", "customer-360"}
    [hit] = [r for r in body["results"] if r["name"] == "customer-addresses"]
    product = (RETAIL / hit["file"]).read_text().splitlines()
    assert "{name: street," in product[hit["line"] - 1]
    assert hit | {"summary": None, "line": None} == {
        "kind": "DataProduct",
        "name": "customer-addresses",
        "part": "street",
        "score": 95,
        "matched": "column",
        "text": "street",
        "summary": None,
        "file": "data/customer-addresses.yaml",
        "line": None,
    }


def test_nothing_found_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    assert interlink(capsys, "catalog", "search", "spaceship", *ESTATE)[:2] == (
        0,
        "nothing matches 'spaceship'\n",
    )


def test_a_term_with_its_mappings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = interlink(capsys, "catalog", "term", "postcode", *ESTATE)
    assert code == 0
    lines = out.splitlines()
    assert lines[:5] == [
        "Postal code  (Glossary/sales, glossary.yaml:22)",
        "  The code the post office sorts a customer's address by.",
        "  owner: sales   classification: confidential   personal data: yes",
        "  synonyms: zip code, postcode",
        "  related: Customer address",
    ]
    assert lines[7].split() == ["System/crm", "customers.postal_code", "glossary.yaml:29"]
    assert len(lines) == 11


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("term", "zip codes"),
            "interlink: error: no term 'zip codes' (did you mean 'Postal code'?)",
        ),
        (("search", " "), "interlink: error: the search text is empty"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = interlink(capsys, "catalog", *args, *ESTATE)
    assert (code, out, err) == (2, "", message + "\n")


def test_an_estate_with_errors_is_refused_as_check_says_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: interlink/v1\nkind: Sytem\nmetadata: {name: a}\n")
    code, _, err = interlink(capsys, "catalog", "search", "a", "--estate", str(tmp_path))
    assert code == 2
    assert "a.yaml:2:7: error: unknown kind 'Sytem' (did you mean 'System'?)" in err
