"""`interlink export backstage`: the estate as Backstage catalog entities."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlink.contracts.backstage import backstage_entities
from interlink.contracts.backstage_names import EntityNames, is_valid_name, sanitize
from interlink.contracts.export_format import to_yaml_all
from interlink.estate.model import Estate
from tests.unit.contracts.export_helpers import asyncapi_errors, checked, dangling
from tests.unit.estate.helpers import RETAIL, copy_retail, edit

NAME = re.compile(r"^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$")
REQUIRED = {
    "Group": ("type", "children"),
    "System": ("owner",),
    "Component": ("type", "lifecycle", "owner"),
    "API": ("type", "lifecycle", "owner", "definition"),
    "Resource": ("type", "owner"),
}
RELATIONS = ("providesApis", "consumesApis", "dependsOn", "dependencyOf")


@pytest.fixture(scope="module")
def retail() -> Estate:
    return checked(RETAIL)


@pytest.fixture(scope="module")
def entities(retail: Estate) -> list[dict[str, Any]]:
    return backstage_entities(retail, definitions=RETAIL)


@pytest.fixture
def editable(tmp_path: Path) -> Path:
    return copy_retail(tmp_path / "retail")


def by_ref(entities: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{e['kind'].lower()}:{e['metadata']['name']}": e for e in entities}


def structural_problems(entities: list[dict[str, Any]]) -> list[str]:
    """What Backstage's catalog would refuse: bad envelopes, names, missing fields or targets."""
    problems = []
    known = by_ref(entities)
    if len(known) != len(entities):
        problems.append("two entities share a kind and name")
    for entity in entities:
        kind, name = entity["kind"], entity["metadata"]["name"]
        where = f"{kind}/{name}"
        if entity["apiVersion"] != "backstage.io/v1alpha1":
            problems.append(f"{where}: apiVersion")
        if not NAME.match(name) or len(name) > 63:
            problems.append(f"{where}: invalid name")
        spec = entity["spec"]
        problems += [f"{where}: no spec.{f}" for f in REQUIRED[kind] if f not in spec]
        if kind == "Component" and spec["type"] == "service" and "system" not in spec:
            problems.append(f"{where}: a service belongs to a system")
        targets = [spec[f] for f in ("owner", "system") if f in spec]
        targets += [t for f in RELATIONS for t in spec.get(f, [])]
        problems += [f"{where}: {t} is not in the export" for t in targets if t not in known]
        for field in RELATIONS:
            if field in spec and spec[field] != sorted(set(spec[field])):
                problems.append(f"{where}: {field} is not a sorted set")
    return problems


def test_the_retail_catalog_is_well_formed(entities: list[dict[str, Any]]) -> None:
    assert structural_problems(entities) == []


def test_the_structural_check_can_fail(entities: list[dict[str, Any]]) -> None:
    broken = [*entities[:-1], {**entities[-1], "spec": {"type": "x", "owner": "group:nobody"}}]
    broken.append({**entities[0], "metadata": {"name": "bad--name"}, "spec": {"type": "team"}})
    assert structural_problems(broken) == [
        "Resource/postal-code: group:nobody is not in the export",
        "Group/bad--name: invalid name",
        "Group/bad--name: no spec.children",
    ]


def test_one_entity_per_estate_object_and_a_component_per_system(
    entities: list[dict[str, Any]],
) -> None:
    kinds = [e["kind"] for e in entities]
    assert {k: kinds.count(k) for k in dict.fromkeys(kinds)} == {
        "Group": 5,
        "System": 10,
        "Component": 12,  # ten services and the address-sync and order-saga flows
        "API": 5,  # two Apis and three events
        "Resource": 8,  # the four products and the four terms of the glossary
    }
    refs = by_ref(entities)
    assert refs["component:crm"]["spec"]["system"] == "system:crm"
    assert refs["component:address-sync"]["spec"]["type"] == "flow"
    assert refs["group:sales"]["spec"] == {
        "type": "team",
        "profile": {"displayName": "sales", "email": "sales-integrations@example.com"},
        "children": [],
    }
    assert refs["system:crm"]["metadata"]["labels"] == {"interlink.dev/domain": "sales"}
    assert refs["system:crm"]["metadata"]["annotations"] == {"interlink.dev/object": "System/crm"}


def test_owners_and_lifecycles(entities: list[dict[str, Any]]) -> None:
    refs = by_ref(entities)
    assert refs["system:erp"]["spec"]["owner"] == "group:finance"
    v1, v2 = refs["api:customers-v1"]["spec"], refs["api:customers-v2"]["spec"]
    assert (v1["lifecycle"], v2["lifecycle"]) == ("deprecated", "production")
    assert refs["component:crm-legacy"]["spec"]["lifecycle"] == "deprecated"
    annotations = refs["api:customers-v1"]["metadata"]["annotations"]
    assert annotations["interlink.dev/sunset"] == "2027-06-30"
    assert annotations["interlink.dev/successor"] == "customers-v2"


def test_relations_follow_the_estate_graph(entities: list[dict[str, Any]]) -> None:
    spec = {ref: e["spec"] for ref, e in by_ref(entities).items()}
    assert spec["component:crm"]["providesApis"] == [
        "api:customer.address-updated",
        "api:customers-v1",
        "api:customers-v2",
    ]
    # The legacy CRM serves customers-v1 through the customers route.
    assert spec["component:crm-legacy"]["providesApis"] == ["api:customers-v1"]
    for subscriber in ("component:logistics", "component:analytics"):
        assert spec[subscriber]["consumesApis"] == ["api:customer.address-updated"]
    flow = spec["component:address-sync"]
    assert flow["consumesApis"] == ["api:customer.address-updated"]
    assert flow["dependsOn"] == ["component:billing", "component:erp"]
    assert spec["resource:customer-addresses"]["dependsOn"] == ["component:crm"]
    assert spec["resource:customer-addresses"]["system"] == "system:crm"
    assert "consumesApis" not in spec["component:crm"]  # crm-publisher lacks customers:read


def test_a_consumer_standing_for_a_system_consumes_the_routes_it_may_call(
    editable: Path,
) -> None:
    edit(
        editable / "gateway" / "consumers.yaml",
        'scopes: ["events:publish:customer.address-updated"]',
        'scopes: ["events:publish:customer.address-updated", "customers:read"]',
    )
    spec = by_ref(backstage_entities(checked(editable)))["component:crm"]["spec"]
    assert spec["consumesApis"] == ["api:customers-v1", "api:customers-v2"]


def test_api_definitions_refer_to_the_contract_files(
    retail: Estate, entities: list[dict[str, Any]]
) -> None:
    refs = by_ref(entities)
    assert refs["api:customers-v1"]["spec"]["definition"] == {
        "$text": "./contracts/customers-v1.openapi.yaml"
    }
    elsewhere = by_ref(backstage_entities(retail, definitions=RETAIL / "catalog"))
    assert elsewhere["api:customers-v2"]["spec"]["definition"] == {
        "$text": "../contracts/customers-v2.openapi.yaml"
    }
    inline = by_ref(backstage_entities(retail))
    text = (RETAIL / "contracts" / "customers-v1.openapi.yaml").read_text(encoding="utf-8")
    assert inline["api:customers-v1"]["spec"]["definition"] == text


def test_an_event_api_is_defined_by_its_own_asyncapi_document(
    entities: list[dict[str, Any]],
) -> None:
    api = by_ref(entities)["api:customer.address-updated"]
    assert api["spec"]["type"] == "asyncapi"
    assert api["spec"]["system"] == "system:crm"
    assert api["metadata"]["annotations"]["interlink.dev/classification"] == "confidential"
    doc = yaml.safe_load(api["spec"]["definition"])
    assert asyncapi_errors(doc) == []
    assert dangling(doc) == []
    assert doc["info"] == {**doc["info"], "title": "customer.address-updated", "version": "2"}
    assert list(doc["channels"]) == ["customer.address-updated"]


def test_the_catalog_is_one_yaml_stream(entities: list[dict[str, Any]]) -> None:
    text = to_yaml_all(entities)
    assert text.startswith("---\napiVersion: backstage.io/v1alpha1\nkind: Group\n")
    assert list(yaml.safe_load_all(text)) == entities
    assert "definition: |\n" in text  # the event's document stays readable


def test_what_no_team_owns_goes_to_an_unowned_group(editable: Path) -> None:
    edit(editable / "flows" / "address-sync.yaml", "  owner: finance\n", "")
    edit(editable / "platform.yaml", "  owner: platform\n", "")
    entities = backstage_entities(checked(editable))
    refs = by_ref(entities)
    assert refs["component:address-sync"]["spec"]["owner"] == "group:unowned"
    assert refs["group:unowned"]["spec"]["type"] == "team"
    assert structural_problems(entities) == []


def test_names_follow_backstage_rules() -> None:
    assert sanitize("customer.address-updated") == "customer.address-updated"
    assert sanitize("a--b..c") == "a-b.c"
    long = "x" * 70 + ".y"
    assert len(sanitize(long)) == 63
    assert is_valid_name(sanitize(long))
    assert sanitize(long) != sanitize("x" * 70 + ".z")
    assert not is_valid_name("a--b")
    assert not is_valid_name("-a")


def test_names_that_collide_after_tidying_stay_apart() -> None:
    names = EntityNames()
    names.add("Component", "System/a-b", "a-b")
    names.add("Component", "Flow/a--b", "a--b")
    names.add("API", "Api/a-b", "a-b")
    names.assign()
    assert names.name("Component", "System/a-b") == "a-b"
    assert re.match(r"^a-b-[0-9a-f]{6}$", names.name("Component", "Flow/a--b"))
    assert names.ref("API", "Api/a-b") == "api:a-b"  # another kind: no clash


def test_glossary_terms_are_resources_the_places_holding_their_data_depend_on(
    entities: list[dict[str, Any]],
) -> None:
    term = by_ref(entities)["resource:postal-code"]
    assert term["metadata"] == {
        "name": "postal-code",
        "title": "Postal code",
        "description": "The code the post office sorts a customer's address by.",
        "annotations": {
            "interlink.dev/object": "Glossary/sales",
            "interlink.dev/term": "Postal code",
            "interlink.dev/synonyms": "zip code, postcode",
            "interlink.dev/classification": "confidential",
            "interlink.dev/pii": "true",
            "interlink.dev/related": "Customer address",
            "interlink.dev/mappings": "System/crm customers.postal_code; "
            "Event/customer.address-updated address.postalCode; "
            "DataProduct/customer-addresses postal_code; Api/customers-v2 Address.postalCode",
        },
        "tags": ["pii"],
    }
    assert term["spec"] == {
        "type": "glossary-term",
        "owner": "group:sales",
        "dependencyOf": [
            "api:customer.address-updated",
            "api:customers-v2",
            "component:crm",
            "resource:customer-addresses",
        ],
    }
    total = by_ref(entities)["resource:order-total"]
    assert "tags" not in total["metadata"]
    assert total["spec"]["dependencyOf"] == ["api:order.placed"]


def test_a_term_named_like_a_product_keeps_apart_from_it(editable: Path) -> None:
    edit(editable / "glossary.yaml", "- name: Order total", "- name: Customer addresses")
    names = sorted(
        e["metadata"]["name"]
        for e in backstage_entities(checked(editable))
        if e["kind"] == "Resource"
    )
    assert names[:4] == ["crm-customers", "customer-360", "customer-address", "customer-addresses"]
    assert re.fullmatch(r"customer-addresses-[0-9a-f]{6}", names[4])
    assert structural_problems(backstage_entities(checked(editable))) == []
