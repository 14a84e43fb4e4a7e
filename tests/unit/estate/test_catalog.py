"""Catalog search: what is found, how it ranks, and where it says it is written."""

from __future__ import annotations

import pytest

from interlink.errors import BadRequest, NotFound
from interlink.estate.catalog import (
    DESCRIPTION,
    EXACT,
    INSIDE,
    MAPPING,
    PREFIX,
    WORD_PREFIX,
    WORDS,
    Catalog,
    Query,
    Text,
    find_term,
    score_name,
    term_json,
    words,
)
from interlink.estate.check import check_estate
from tests.unit.estate.helpers import RETAIL


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(check_estate(RETAIL).estate)


def found(catalog: Catalog, query: str, **kw: object) -> list[str]:
    hits = catalog.search(query, **kw)  # type: ignore[arg-type]
    return [f"{h.entry.kind} {h.entry.name}{' ' + h.entry.part if h.entry.part else ''}"
            for h in hits]  # fmt: skip


def test_words_split_case_and_separators() -> None:
    assert (
        words("postalCode")
        == words("postal_code")
        == words("Postal-Code")
        == [
            "postal",
            "code",
        ]
    )


@pytest.mark.parametrize(
    ("query", "text", "score"),
    [
        ("Customer Address", "customer address", EXACT),
        ("customer address", "customer-address", EXACT),
        ("address", "address-sync", PREFIX),
        ("address", "customer.address-updated", WORDS),
        ("postal code", "address.postalCode", WORDS),
        ("addr", "customer.address-updated", WORD_PREFIX),
        ("dres", "customer.address-updated", INSIDE),
        ("billing", "customer.address-updated", 0),
    ],
)
def test_names_score_exact_then_prefix_then_words(query: str, text: str, score: int) -> None:
    assert score_name(Query.of(query), Text.of("name", text)) == score


def test_a_term_is_found_by_name_synonym_definition_and_mapping(catalog: Catalog) -> None:
    assert found(catalog, "customer address", limit=1) == ["Term Customer address"]
    [hit] = catalog.search("zip code", limit=1)
    assert (hit.entry.name, hit.what, hit.text, hit.score) == (
        "Postal code",
        "synonym",
        "zip code",
        EXACT,
    )
    [hit] = catalog.search("taxes included")
    assert (hit.entry.name, hit.what, hit.score) == ("Order total", "definition", DESCRIPTION)
    hits = catalog.search("crm customers", kind="term")
    assert {h.entry.name for h in hits} == {"Customer address", "Postal code", "Customer ID"}
    assert {h.what for h in hits} == {"mapping"}
    assert {h.score for h in hits} == {MAPPING}


def test_fields_and_columns_are_found_inside_their_objects(catalog: Catalog) -> None:
    assert found(catalog, "postalCode", kind="event") == [
        "Event customer.address-updated address.postalCode"
    ]
    assert found(catalog, "postal_code", kind="product") == [
        "DataProduct customer-addresses postal_code"
    ]
    [hit] = catalog.search("postal_code", kind="product")
    assert hit.score == EXACT - 5  # a column ranks under an object matching as well
    where = hit.location
    assert where.file.name == "customer-addresses.yaml"
    assert "{name: postal_code," in where.file.read_text().splitlines()[where.line - 1]


def test_search_ranks_best_first_terms_before_others_at_a_tie(catalog: Catalog) -> None:
    hits = catalog.search("address", limit=200)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    ranked = found(catalog, "address", limit=200)
    # First the fields and schemas named so exactly (a field by its last segment too).
    best = [f for f, h in zip(ranked, hits, strict=True) if h.score == EXACT - 5]
    assert ranked[: len(best)] == best
    assert {"Api customers-v2 Address", "Api customers-v2 NewCustomer.address"} <= set(best)
    assert "Event customer.address-updated address" in best
    tied = [h for h in hits if h.score == WORDS]
    assert tied[0].entry.kind == "Term"
    assert "Term Customer address" in ranked
    assert "DataProduct customer-addresses" in ranked
    event = next(h for h in hits if h.entry.name == "customer.address-updated" and not h.entry.part)
    assert event.location.file.name == "customer-address-updated.yaml"


def test_api_schemas_and_their_properties_are_found_where_written(catalog: Catalog) -> None:
    assert found(catalog, "postalCode", kind="api") == [
        "Api customers-v1 Address.postalCode",
        "Api customers-v2 Address.postalCode",
    ]  # not again under Customer and NewCustomer, whose $refs bring it in
    [hit] = catalog.search("NewCustomer", kind="api", limit=1)
    assert (hit.entry.part, hit.what, hit.score) == ("NewCustomer", "schema", EXACT - 5)
    assert hit.to_json(RETAIL)["file"] == "contracts/customers-v1.openapi.yaml"
    line = hit.location.file.read_text().splitlines()[hit.location.line - 1]
    assert line.strip().startswith("NewCustomer:")


def test_a_field_is_located_in_its_schema_file(catalog: Catalog) -> None:
    [hit] = catalog.search("address.street", kind="event", limit=1)
    assert hit.location.file.name == "customer.address-updated.v2.schema.json"
    text = hit.location.file.read_text().splitlines()[hit.location.line - 1]
    assert '"street"' in text
    assert hit.to_json(RETAIL)["file"] == "contracts/customer.address-updated.v2.schema.json"


@pytest.mark.parametrize(
    ("query", "kind", "message"),
    [
        ("   ", None, "the search text is empty"),
        ("x" * 201, None, "longer than 200 characters"),
        ("crm", "widget", "unknown kind 'widget'"),
    ],
)
def test_bad_searches_are_refused(
    catalog: Catalog, query: str, kind: str | None, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        catalog.search(query, kind=kind)


def test_a_term_is_found_by_any_case_or_synonym_and_shown_whole(catalog: Catalog) -> None:
    assert find_term(catalog.estate, "POSTCODE").term.name == "Postal code"
    body = term_json(find_term(catalog.estate, "customer address"), RETAIL)
    assert body["owner"] == "sales"  # the Glossary's
    assert body["pii"] is True
    assert [(m["kind"], m["name"], m["place"]) for m in body["mappings"]] == [
        ("System", "crm", "customers.street"),
        ("Event", "customer.address-updated", "address"),
        ("DataProduct", "customer-addresses", "street"),
        ("Api", "customers-v2", "Address"),
    ]
    assert (body["file"], body["line"]) == ("glossary.yaml", 11)
    with pytest.raises(NotFound, match=r"no term 'zip codes' \(did you mean 'Postal code'\?\)"):
        find_term(catalog.estate, "zip codes")
