"""`check`: references, contract files and governance rules, on a copy of the retail example."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from interlink.estate.check import check_estate
from interlink.estate.rules import RULES
from tests.unit.estate.helpers import (
    RETAIL,
    TODAY,
    check_messages,
    codes,
    edit,
    other_findings,
    write,
)

OPENAPI = "contracts/customers-v1.openapi.yaml"
SCHEMA = "contracts/customer.address-updated.v1.schema.json"
# the latest schema version of the event, which the PII and ordering-key rules read
LATEST_SCHEMA = "contracts/customer.address-updated.v2.schema.json"
EVENT = "events/customer-address-updated.yaml"
# the end of Api/customers-v1's metadata and the start of its spec, unique in apis.yaml
V1_OWNER = "moving to the new CRM.\n  owner: sales"
V1_SYSTEM = "spec:\n  system: crm\n  contract: contracts/customers-v1"
# how the example deprecates Api/customers-v1
V1_DEPRECATION = "lifecycle: deprecated\n  sunset: 2027-06-30\n  successor: customers-v2"
ID_PARAMETER = (
    '      - {name: id, in: path, required: true, schema: {type: string, pattern: "^C[0-9]{6}$"}}\n'
)


def messages_with(root: Path, code: str) -> list[str]:
    result = check_estate(root)
    return [f.render(result.estate.root) for f in result.findings if f.code == code]


# --- the example -----------------------------------------------------------------------------


def test_the_retail_example_has_no_errors() -> None:
    result = check_estate(RETAIL, today=TODAY)
    # Only warnings: Route/customers and its consumers still use customers-v1, and its
    # DataProduct is not run yet, nor watched by its Monitor (test_not_yet.py).
    assert {f.code for f in result.findings} == {"LIFECYCLE_DEPRECATED", "NOT_RUN"}
    lifecycle = [f for f in result.findings if f.code == "LIFECYCLE_DEPRECATED"]
    assert sorted(f.subject or "" for f in lifecycle) == [
        "Consumer/acme-logistics",
        "Consumer/mobile-app",
        "Route/customers",
    ]
    assert result.ok
    assert len(result.estate) == 53
    assert len(result.estate.files) == 23
    assert len(result.estate.contracts) == 6


def test_a_copy_of_the_retail_example_checks_clean(retail: Path) -> None:
    assert check_messages(retail) == []


def test_every_rule_has_a_code_and_a_description() -> None:
    names = [rule.code for rule in RULES]
    assert len(names) == len(set(names))
    assert {
        "OWNER_MISSING",
        "DEPRECATION_INCOMPLETE",
        "PII",
        "SUBSCRIPTION_TARGET",
        "UPSTREAM_NO_URL",
        "ROUTE_CONFLICT",
        "PLAN_LIMITS",
        "PLATFORM_SINGLE",
        "MONITOR_AUDIENCE",
        "MONITOR_SIGNAL",
        "FLOW_EXPRESSION",
        "FLOW_STEP_DUPLICATE",
        "FLOW_CALL",
        "FLOW_TRIGGER",
        "FLOW_PUBLISH_SCHEMA",
    } <= set(names)
    assert all(rule.description for rule in RULES)


# --- references ------------------------------------------------------------------------------

DANGLING = [
    pytest.param(
        "apis.yaml",
        V1_OWNER,
        V1_OWNER.replace("owner: sales", "owner: sale"),
        "apis.yaml:7:10: error: Api/customers-v1 refers to Team/sale, which does not exist "
        "(did you mean 'sales'?)",
        id="owner",
    ),
    pytest.param(
        "apis.yaml",
        V1_SYSTEM,
        V1_SYSTEM.replace("system: crm", "system: crn"),
        "apis.yaml:9:11: error: Api/customers-v1 refers to System/crn, which does not exist "
        "(did you mean 'crm'?)",
        id="api-system",
    ),
    pytest.param(
        EVENT,
        "system: crm",
        "system: crmm",
        f"{EVENT}:8:11: error: Event/customer.address-updated refers to System/crmm, which does "
        "not exist (did you mean 'crm'?)",
        id="event-system",
    ),
    pytest.param(
        "gateway/routes.yaml",
        "api: customers-v1",
        "api: customer-v1",
        "gateway/routes.yaml:11:8: error: Route/customers refers to Api/customer-v1, which does "
        "not exist (did you mean 'customers-v1'?)",
        id="route-api",
    ),
    pytest.param(
        "gateway/routes.yaml",
        "{system: crm-legacy, weight: 90}",
        "{system: crm-legasy, weight: 90}",
        "gateway/routes.yaml:15:16: error: Route/customers refers to System/crm-legasy, which "
        "does not exist (did you mean 'crm-legacy'?)",
        id="route-upstream",
    ),
    pytest.param(
        "gateway/routes.yaml",
        "publish: {event: customer.address-updated}",
        "publish: {event: customer.address-updatd}",
        "gateway/routes.yaml:45:20: error: Route/address-changes refers to "
        "Event/customer.address-updatd, which does not exist "
        "(did you mean 'customer.address-updated'?)",
        id="route-publish-event",
    ),
    pytest.param(
        "events/subscriptions.yaml",
        "owner: finance\nspec:\n  event: customer.address-updated",
        "owner: finance\nspec:\n  event: customer.adress-updated",
        "events/subscriptions.yaml:38:10: error: Subscription/erp-address-sync refers to "
        "Event/customer.adress-updated, which does not exist "
        "(did you mean 'customer.address-updated'?)",
        id="subscription-event",
    ),
    pytest.param(
        "events/subscriptions.yaml",
        "{system: logistics, path",
        "{system: logistic, path",
        "events/subscriptions.yaml:9:20: error: Subscription/logistics-address-updates refers to "
        "System/logistic, which does not exist (did you mean 'logistics'?)",
        id="subscription-target-system",
    ),
    pytest.param(
        "events/subscriptions.yaml",
        "{flow: address-sync}",
        "{flow: adress-sync}",
        "events/subscriptions.yaml:39:18: error: Subscription/erp-address-sync refers to "
        "Flow/adress-sync, which does not exist (did you mean 'address-sync'?)",
        id="subscription-flow",
    ),
    pytest.param(
        "gateway/consumers.yaml",
        "plan: partner",
        "plan: partnr",
        "gateway/consumers.yaml:9:9: error: Consumer/acme-logistics refers to Plan/partnr, which "
        "does not exist (did you mean 'partner'?)",
        id="consumer-plan",
    ),
    pytest.param(
        "gateway/consumers.yaml",
        "  system: crm\n",
        "  system: crmm\n",
        "gateway/consumers.yaml:33:11: error: Consumer/crm-publisher refers to System/crmm, which "
        "does not exist (did you mean 'crm'?)",
        id="consumer-system",
    ),
    pytest.param(
        "flows/address-sync.yaml",
        "  # No trigger: Subscription/erp-address-sync (events/subscriptions.yaml) delivers its "
        "events.\n",
        "  trigger: {event: customer.address-update}\n",
        "flows/address-sync.yaml:9:20: error: Flow/address-sync refers to "
        "Event/customer.address-update, which does not exist "
        "(did you mean 'customer.address-updated'?)",
        id="flow-trigger-event",
    ),
    pytest.param(
        "flows/address-sync.yaml",
        "      system: erp\n      method: PUT",
        "      system: erpx\n      method: PUT",
        "flows/address-sync.yaml:20:15: error: Flow/address-sync refers to System/erpx, which "
        "does not exist (did you mean 'erp'?)",
        id="flow-call-system",
    ),
    pytest.param(
        "flows/address-sync.yaml",
        "        system: erp\n",
        "        system: erpx\n",
        "flows/address-sync.yaml:24:17: error: Flow/address-sync refers to System/erpx, which "
        "does not exist (did you mean 'erp'?)",
        id="flow-compensate-system",
    ),
    pytest.param(
        "flows/address-sync.yaml",
        "      path: /address-changes\n",
        "      path: /address-changes\n"
        "    - {name: lookup, type: enrich, from: {api: customer-v1, path: /c}, into: c}\n",
        "flows/address-sync.yaml:32:48: error: Flow/address-sync refers to Api/customer-v1, "
        "which does not exist (did you mean 'customers-v1'?)",
        id="flow-enrich-api",
    ),
    pytest.param(
        "flows/address-sync.yaml",
        "      path: /address-changes\n",
        "      path: /address-changes\n"
        "    - {name: lookup, type: enrich, from: {dataProduct: customer-adresses}, into: c}\n",
        "flows/address-sync.yaml:32:56: error: Flow/address-sync refers to "
        "DataProduct/customer-adresses, which does not exist "
        "(did you mean 'customer-addresses'?)",
        id="flow-enrich-data-product",
    ),
    pytest.param(
        "flows/address-sync.yaml",
        "      path: /address-changes\n",
        "      path: /address-changes\n"
        "    - {name: tell, type: publish, event: customer.addres-updated}\n",
        "flows/address-sync.yaml:32:42: error: Flow/address-sync refers to "
        "Event/customer.addres-updated, which does not exist "
        "(did you mean 'customer.address-updated'?)",
        id="flow-publish-event",
    ),
    pytest.param(
        "data/customer-addresses.yaml",
        "    system: crm\n",
        "    system: crms\n",
        "data/customer-addresses.yaml:11:13: error: DataProduct/customer-addresses refers to "
        "System/crms, which does not exist (did you mean 'crm'?)",
        id="data-product-source",
    ),
    pytest.param(
        "apis.yaml",
        "successor: customers-v2",
        "successor: customer-v2",
        "apis.yaml:14:14: error: Api/customers-v1 refers to Api/customer-v2, which does not "
        "exist (did you mean 'customers-v2'?)",
        id="api-successor",
    ),
    pytest.param(
        EVENT,
        "dedupWindow: 10m",
        "dedupWindow: 10m\n  lifecycle: deprecated\n  sunset: 2027-01-31\n"
        "  successor: customer.address-changed",
        f"{EVENT}:24:14: error: Event/customer.address-updated refers to "
        "Event/customer.address-changed, which does not exist "
        "(did you mean 'customer.address-updated'?)",
        id="event-successor",
    ),
    pytest.param(
        "monitors.yaml",
        "customers-availability, owner: sales}\nspec:\n  target: {kind: Route, name: customers}",
        "customers-availability, owner: sales}\nspec:\n  target: {kind: Route, name: customer}",
        "monitors.yaml:5:11: error: Monitor/customers-availability refers to Route/customer, "
        "which does not exist (did you mean 'customers'?)",
        id="monitor-target",
    ),
    pytest.param(
        "monitors.yaml",
        "notify: [sales, analytics]",
        "notify: [sales, analytic]",
        "monitors.yaml:25:19: error: Monitor/addresses-fresh refers to Team/analytic, which does "
        "not exist (did you mean 'analytics'?)",
        id="monitor-notify-team",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), DANGLING)
def test_dangling_reference_is_located_with_a_hint(
    retail: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit(retail / file, old, new)
    result = check_estate(retail)
    found = [f.render(result.estate.root) for f in result.findings if f.code == "REF_UNKNOWN"]
    assert found == [expected]


def test_dangling_reference_to_a_kind_the_estate_lacks(retail: Path) -> None:
    for product in (retail / "data").glob("*.yaml"):
        product.unlink()
    (retail / "glossary.yaml").unlink()  # it maps terms to the product's columns too
    lacking = "which does not exist (the estate has no DataProduct yet)"
    assert check_messages(retail) == [
        "gateway/routes.yaml:92:12: error: Route/customer-360-data refers to "
        f"DataProduct/customer-360, {lacking}",
        f"monitors.yaml:22:11: error: Monitor/addresses-fresh refers to "
        f"DataProduct/customer-addresses, {lacking}",
        "monitors.yaml:63:11: error: Monitor/customer-360-refreshes refers to "
        f"DataProduct/customer-360, {lacking}",
    ]


def test_dangling_reference_without_a_close_name_has_no_hint(retail: Path) -> None:
    edit(retail / "gateway/consumers.yaml", "plan: partner", "plan: zzzz")
    assert messages_with(retail, "REF_UNKNOWN") == [
        "gateway/consumers.yaml:9:9: error: Consumer/acme-logistics refers to Plan/zzzz, which "
        "does not exist"
    ]


def test_a_removed_team_is_reported_wherever_it_is_named(retail: Path) -> None:
    edit(retail / "teams.yaml", "metadata: {name: finance", "metadata: {name: fin")
    result = check_estate(retail)
    subjects = sorted({f.subject or "" for f in result.findings if f.code == "REF_UNKNOWN"})
    assert subjects == [
        "Flow/address-sync",
        "Monitor/address-sync-runs",
        "Subscription/erp-address-sync",
        "System/billing",
        "System/erp",
    ]


# --- contract files --------------------------------------------------------------------------


def test_missing_contract_file_is_located_at_spec_contract(retail: Path) -> None:
    edit(retail / "apis.yaml", OPENAPI, "contracts/customers-v9.openapi.yaml")
    missing = retail.resolve() / "contracts" / "customers-v9.openapi.yaml"
    assert check_messages(retail) == [f"apis.yaml:10:13: error: contract file not found: {missing}"]


def test_missing_event_schema_is_located_at_its_file_entry(retail: Path) -> None:
    edit(retail / EVENT, "customer.address-updated.v1.schema.json", "v1.json")
    result = check_estate(retail)
    missing = [f for f in result.findings if f.code == "CONTRACT_MISSING"]
    assert len(missing) == 1
    assert missing[0].render(result.estate.root) == (
        f"{EVENT}:10:26: error: contract file not found: {retail.resolve()}/contracts/v1.json"
    )
    assert missing[0].subject == "Event/customer.address-updated"


def test_invalid_openapi_is_located_inside_the_openapi_file(retail: Path) -> None:
    edit(retail / OPENAPI, "operationId: getCustomer", "operationId: [getCustomer]")
    assert check_messages(retail) == [
        f'{OPENAPI}:44:20: error: not valid OpenAPI 3.0.3: ["getCustomer"] is not of type "string"'
    ]


def test_invalid_openapi_deep_inside_a_response(retail: Path) -> None:
    edit(retail / OPENAPI, "description: No such customer.", "summary: No such customer.")
    result = check_estate(retail)
    assert codes(result) == ["OPENAPI_INVALID"]
    location = other_findings(result)[0].location
    assert location is not None
    assert (location.file.name, location.line) == ("customers-v1.openapi.yaml", 52)


def test_openapi_3_1_is_validated_against_its_own_schema(retail: Path) -> None:
    edit(retail / OPENAPI, "openapi: 3.0.3", "openapi: 3.1.0")
    edit(retail / OPENAPI, "next: {type: string, nullable: true}", "next: {type: [string, 'null']}")
    assert check_messages(retail) == []
    edit(retail / OPENAPI, "  version: 1.4.0", "  version: 1")
    assert check_messages(retail) == [
        f'{OPENAPI}:4:12: error: not valid OpenAPI 3.1.0: 1 is not of type "string"'
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "openapi: 3.0.3",
            "openapi: 2.0",
            f"{OPENAPI}:1:10: error: unsupported OpenAPI version 2.0 "
            "(Interlink reads OpenAPI 3.0.x and 3.1.x)",
        ),
        (
            "openapi: 3.0.3",
            'swagger: "2.0"',
            f"{OPENAPI}:1:1: error: unsupported OpenAPI version (none) "
            "(Interlink reads OpenAPI 3.0.x and 3.1.x)",
        ),
        (
            "openapi: 3.0.3",
            "openapi: 3.2",
            f"{OPENAPI}:1:10: error: unsupported OpenAPI version 3.2 "
            "(Interlink reads OpenAPI 3.0.x and 3.1.x)",
        ),
    ],
)
def test_unsupported_openapi_version(retail: Path, old: str, new: str, expected: str) -> None:
    edit(retail / OPENAPI, old, new)
    assert check_messages(retail) == [expected]


def test_undeclared_path_parameter(retail: Path) -> None:
    edit(
        retail / OPENAPI,
        "  /customers/{id}:\n    parameters:\n" + ID_PARAMETER,
        "  /customers/{id}:\n",
    )
    assert check_messages(retail) == [
        f"{OPENAPI}:42:7: error: GET /customers/{{id}}: path parameter 'id' is not declared"
    ]


def test_path_parameter_that_is_not_in_the_path(retail: Path) -> None:
    edit(
        retail / OPENAPI,
        "{name: cursor, in: query, schema: {type: string}}",
        "{name: cursor, in: path, required: true, schema: {type: string}}",
    )
    assert check_messages(retail) == [
        f"{OPENAPI}:9:7: error: GET /customers: declares path parameter 'cursor' that is not in "
        "the path"
    ]


def test_path_parameters_may_be_declared_by_reference(retail: Path) -> None:
    edit(
        retail / OPENAPI,
        "  /customers/{id}:\n    parameters:\n" + ID_PARAMETER,
        '  /customers/{id}:\n    parameters:\n      - $ref: "#/components/parameters/Id"\n',
    )
    edit(
        retail / OPENAPI,
        "components:\n",
        "components:\n  parameters:\n"
        "    Id: {name: id, in: path, required: true, schema: {type: string}}\n",
    )
    assert check_messages(retail) == []


def test_unresolved_local_ref(retail: Path) -> None:
    edit(
        retail / OPENAPI,
        '- $ref: "#/components/schemas/NewCustomer"',
        '- $ref: "#/components/schemas/NewCustomr"',
    )
    assert check_messages(retail) == [
        f"{OPENAPI}:87:17: error: $ref '#/components/schemas/NewCustomr' points at nothing in "
        "this file"
    ]


def test_ref_to_another_file(retail: Path) -> None:
    edit(
        retail / OPENAPI,
        'schema: {$ref: "#/components/schemas/NewCustomer"}',
        'schema: {$ref: "shared/customer.yaml#/NewCustomer"}',
    )
    assert check_messages(retail) == [
        f"{OPENAPI}:31:28: error: $ref 'shared/customer.yaml#/NewCustomer': file "
        "shared/customer.yaml not found"
    ]
    write(retail, "contracts/shared/customer.yaml", "NewCustomer: {type: object}\n")
    assert check_messages(retail) == []


def test_absolute_refs_are_left_to_their_publisher(retail: Path) -> None:
    edit(
        retail / OPENAPI,
        'schema: {$ref: "#/components/schemas/NewCustomer"}',
        'schema: {$ref: "https://schemas.example.com/customer.json"}',
    )
    assert check_messages(retail) == []


def test_refs_inside_examples_are_data(retail: Path) -> None:
    edit(
        retail / OPENAPI,
        "        required: true\n        content:\n          application/json:\n"
        '            schema: {$ref: "#/components/schemas/NewCustomer"}',
        "        required: true\n        content:\n          application/json:\n"
        '            schema: {$ref: "#/components/schemas/NewCustomer"}\n'
        '            example: {$ref: "#/nowhere"}',
    )
    assert check_messages(retail) == []


def test_invalid_json_schema(retail: Path) -> None:
    edit(retail / SCHEMA, '"type": "object",\n  "required"', '"type": "obj",\n  "required"')
    assert messages_with(retail, "SCHEMA_INVALID") == [
        f'{SCHEMA}:6:11: error: not a valid JSON Schema: "obj" is not valid under any of the '
        "schemas listed in the 'anyOf' keyword"
    ]


def test_bad_regex_pattern(retail: Path) -> None:
    edit(retail / SCHEMA, '"pattern": "^C[0-9]{6}$"', '"pattern": "^C[0-9{6}$"')
    assert check_messages(retail) == [
        f"{SCHEMA}:9:49: error: invalid regular expression '^C[0-9{{6}}$': unterminated "
        "character set at position 2"
    ]


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_bad_regex_in_an_openapi_parameter(retail: Path, version: str) -> None:
    edit(retail / OPENAPI, "openapi: 3.0.3", f"openapi: {version}")
    edit(retail / OPENAPI, "next: {type: string, nullable: true}", "next: {type: string}")
    edit(retail / OPENAPI, 'pattern: "^C[0-9]{6}$"}}', 'pattern: "^C[0-9{6}$"}}', count=2)
    assert check_messages(retail) == [
        f"{OPENAPI}:{line}:78: error: invalid regular expression '^C[0-9{{6}}$': unterminated "
        "character set at position 2"
        for line in (42, 55)
    ]


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_bad_regex_in_openapi_components(retail: Path, version: str) -> None:
    edit(retail / OPENAPI, "openapi: 3.0.3", f"openapi: {version}")
    edit(retail / OPENAPI, "next: {type: string, nullable: true}", "next: {type: string}")
    edit(retail / OPENAPI, 'pattern: "^[A-Z]{2}$"', 'pattern: "^[A-Z]{2}($"')
    assert check_messages(retail) == [
        f"{OPENAPI}:77:42: error: invalid regular expression '^[A-Z]{{2}}($': missing ), "
        "unterminated subpattern at position 9"
    ]


def test_regexes_are_judged_in_the_dialect_that_validates(retail: Path) -> None:
    # ECMA-262, as jsonschema-rs reads it at run time: \p{L} is fine, Python's \Z is not
    edit(retail / SCHEMA, '"pattern": "^C[0-9]{6}$"', '"pattern": "^\\\\p{L}+$"')
    assert check_messages(retail) == []
    edit(retail / SCHEMA, '"pattern": "^\\\\p{L}+$"', '"pattern": "^C[0-9]{6}\\\\Z"')
    assert check_messages(retail) == [
        f"{SCHEMA}:9:49: error: invalid regular expression '^C[0-9]{{6}}\\\\Z': not in the "
        "ECMA-262 dialect JSON Schema uses"
    ]


def test_bad_pattern_property_regex(retail: Path) -> None:
    edit(
        retail / SCHEMA,
        '"changedBy": {"type": "string"}',
        '"changedBy": {"type": "object", "patternProperties": {"(": {"type": "string"}}}',
    )
    result = check_estate(retail)
    assert codes(result) == ["SCHEMA_PATTERN"]
    location = other_findings(result)[0].location
    assert location is not None
    assert location.line == 21


def test_unsupported_schema_draft(retail: Path) -> None:
    edit(
        retail / SCHEMA,
        "https://json-schema.org/draft/2020-12/schema",
        "http://json-schema.org/draft-07/schema#",
    )
    assert messages_with(retail, "SCHEMA_DRAFT") == [
        f"{SCHEMA}:2:14: error: unsupported $schema http://json-schema.org/draft-07/schema# "
        "(event schemas are JSON Schema 2020-12: https://json-schema.org/draft/2020-12/schema)"
    ]


def test_json_schema_with_exponent_numbers_is_valid(retail: Path) -> None:
    edit(retail / SCHEMA, '"maxLength": 100}', '"maxLength": 100, "x-weight": 1e2}')
    edit(retail / SCHEMA, '"changedBy": {"type": "string"}', '"changedBy": {"maximum": 1E+6}')
    assert check_messages(retail) == []


def test_contract_file_with_two_documents(retail: Path) -> None:
    path = retail / OPENAPI
    path.write_text(path.read_text() + "---\nopenapi: 3.0.3\n")
    assert check_messages(retail) == [
        f"{OPENAPI}:95:1: error: a contract file holds exactly one document"
    ]


def test_contract_file_with_broken_yaml(retail: Path) -> None:
    edit(retail / OPENAPI, "  title: Customers", "  title: [Customers")
    assert check_messages(retail) == [  # once, though the file is read twice
        f"{OPENAPI}:4:10: error: invalid YAML: did not find expected ',' or ']'"
    ]


def test_contract_file_with_a_duplicate_key(retail: Path) -> None:
    edit(
        retail / OPENAPI,
        "      operationId: getCustomer\n",
        "      operationId: getCustomer\n      operationId: x\n",
    )
    assert check_messages(retail) == [f"{OPENAPI}:45:7: error: duplicate key 'operationId'"]


def test_a_contract_named_twice_is_read_once(retail: Path) -> None:
    write(
        retail,
        "apis-v2.yaml",
        """\
        apiVersion: interlink/v1
        kind: Api
        metadata: {name: customers-v1-copy, owner: sales}
        spec: {system: crm, contract: contracts/customers-v1.openapi.yaml, version: 1}
        """,
    )
    edit(retail / OPENAPI, "operationId: getCustomer", "operationId: [getCustomer]")
    result = check_estate(retail)
    assert codes(result) == ["OPENAPI_INVALID"]
    # the two openapi files and the four event schemas, customers-v1.openapi.yaml only once
    assert len(result.estate.contracts) == 6


# --- governance rules ------------------------------------------------------------------------


def test_owner_missing_on_a_system(retail: Path) -> None:
    edit(
        retail / "systems/operations.yaml",
        "{name: erp, title: ERP, owner: finance,",
        "{name: erp, title: ERP,",
    )
    assert check_messages(retail) == [
        "systems/operations.yaml:3:11: error: System/erp has no owner Team (set metadata.owner)"
    ]


def test_owner_is_inherited_from_the_system(retail: Path) -> None:
    edit(retail / "apis.yaml", "  owner: sales\n", "", count=2)
    edit(retail / EVENT, "  owner: sales\n", "")
    assert check_messages(retail) == []


def test_owner_missing_on_api_and_event_of_an_unowned_system(retail: Path) -> None:
    edit(retail / "apis.yaml", "  owner: sales\n", "", count=2)
    edit(retail / EVENT, "  owner: sales\n", "")
    edit(
        retail / "systems/sales.yaml",
        "  description: The new customer-relationship system; the customers API is moving here.\n"
        "  owner: sales\n",
        "",
    )
    assert messages_with(retail, "OWNER_MISSING") == [
        "apis.yaml:4:3: error: Api/customers-v1 has no owner Team (set metadata.owner)",
        "apis.yaml:20:3: error: Api/customers-v2 has no owner Team (set metadata.owner)",
        f"{EVENT}:4:3: error: Event/customer.address-updated has no owner Team "
        "(set metadata.owner)",
        "systems/sales.yaml:4:3: error: System/crm has no owner Team (set metadata.owner)",
    ]


def test_owner_is_not_required_of_other_kinds(retail: Path) -> None:
    edit(
        retail / "gateway/routes.yaml", "  name: customers\n  owner: sales\n", "  name: customers\n"
    )
    assert check_messages(retail) == []


def deprecate_v1(retail: Path, deprecation: str) -> None:
    """Replace the example's deprecation of Api/customers-v1 (its successor customers-v2 stays)."""
    edit(retail / "apis.yaml", V1_DEPRECATION, deprecation)


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ("", "sunset and no successor"),
        ("\n  sunset: 2027-01-31", "successor"),
        ("\n  successor: customers-v2", "sunset"),
    ],
)
def test_deprecation_incomplete(retail: Path, fields: str, missing: str) -> None:
    deprecate_v1(retail, "lifecycle: deprecated" + fields)
    assert check_messages(retail) == [
        f"apis.yaml:12:14: error: Api/customers-v1 is deprecated but has no {missing} "
        "(consumers need to know when it goes and what replaces it)"
    ]


def test_deprecation_complete(retail: Path) -> None:
    deprecate_v1(retail, "lifecycle: deprecated\n  sunset: 2027-01-31\n  successor: customers-v2")
    assert check_messages(retail) == []


def test_deprecated_event_needs_sunset_and_successor(retail: Path) -> None:
    edit(retail / EVENT, "dedupWindow: 10m", "dedupWindow: 10m\n  lifecycle: deprecated")
    assert check_messages(retail) == [
        f"{EVENT}:22:14: error: Event/customer.address-updated is deprecated but has no sunset "
        "and no successor (consumers need to know when it goes and what replaces it)"
    ]


def test_pii_undeclared(retail: Path) -> None:
    edit(retail / EVENT, "pii: [address.street, address.postalCode]", "pii: [address.street]")
    assert check_messages(retail) == [
        f"{EVENT}:16:5: error: Event/customer.address-updated: field 'address.postalCode' is "
        "marked x-pii in the schema but not listed in classification.pii",
        # The glossary says the postal code is personal data: it is told too.
        "glossary.yaml:30:52: warning: Glossary/sales: term 'Postal code' is personal data, but "
        "Event/customer.address-updated does not list 'address.postalCode' in classification.pii",
    ]


def test_pii_unknown_field(retail: Path) -> None:
    edit(
        retail / EVENT,
        "pii: [address.street, address.postalCode]",
        "pii: [address.street, address.postalCode, address.phone]",
    )
    assert check_messages(retail) == [
        f"{EVENT}:17:47: error: Event/customer.address-updated: PII field 'address.phone' is not "
        "in the latest schema"
    ]


@pytest.mark.parametrize("level", ["internal", "public"])
def test_pii_classification_too_low(retail: Path, level: str) -> None:
    edit(retail / EVENT, "level: confidential", f"level: {level}")
    assert check_messages(retail) == [
        f"{EVENT}:16:12: error: Event/customer.address-updated carries personal data but is "
        f"classified '{level}' (use confidential or restricted)"
    ]


def test_no_pii_may_be_internal(retail: Path) -> None:
    edit(retail / SCHEMA, '"x-pii": true', '"x-pii": false', count=2)
    edit(retail / LATEST_SCHEMA, '"x-pii": true', '"x-pii": false', count=2)
    edit(retail / EVENT, "    pii: [address.street, address.postalCode]\n", "")
    edit(retail / EVENT, "level: confidential", "level: internal")
    edit(retail / "glossary.yaml", "      pii: true\n", "", count=2)
    assert check_messages(retail) == []


def test_pii_follows_the_latest_schema_version(retail: Path) -> None:
    older = json.loads((retail / SCHEMA).read_text())
    assert "postalCode" in older["properties"]["address"]["properties"]  # v1 keeps the field
    schema = json.loads((retail / LATEST_SCHEMA).read_text())
    del schema["properties"]["address"]["properties"]["postalCode"]
    (retail / LATEST_SCHEMA).write_text(json.dumps(schema))
    assert messages_with(retail, "PII_UNKNOWN_FIELD") == [
        f"{EVENT}:17:27: error: Event/customer.address-updated: PII field 'address.postalCode' "
        "is not in the latest schema"
    ]


def test_ordering_key_unknown(retail: Path) -> None:
    edit(retail / EVENT, "orderingKey: customerId", "orderingKey: customerID")
    assert check_messages(retail) == [
        f"{EVENT}:14:16: error: Event/customer.address-updated: ordering key 'customerID' is not "
        "a field of the latest schema"
    ]


def test_ordering_key_may_be_nested(retail: Path) -> None:
    edit(retail / EVENT, "orderingKey: customerId", "orderingKey: address.country")
    assert check_messages(retail) == []


def test_subscription_target_without_base_url(retail: Path) -> None:
    edit(retail / "systems/operations.yaml", "  baseUrl: http://127.0.0.1:9103\n", "")
    assert check_messages(retail) == [
        "events/subscriptions.yaml:9:20: error: Subscription/logistics-address-updates delivers "
        "to System/logistics, which has no baseUrl",
        "flows/order-saga.yaml:49:15: error: Flow/order-saga calls System/logistics, which has no "
        "baseUrl",
    ]


def test_subscription_target_retired(retail: Path) -> None:
    edit(
        retail / "systems/operations.yaml",
        "  baseUrl: http://127.0.0.1:9104\n",
        "  baseUrl: http://127.0.0.1:9104\n  lifecycle: retired\n",
    )
    assert check_messages(retail) == [
        "events/subscriptions.yaml:22:20: error: Subscription/analytics-address-updates delivers "
        "to System/analytics, which is retired"
    ]


def test_subscription_to_a_flow_needs_no_url(retail: Path) -> None:
    edit(retail / "systems/operations.yaml", "  baseUrl: http://127.0.0.1:9105\n", "")
    result = check_estate(retail, today=TODAY)
    assert "SUBSCRIPTION_TARGET_NO_URL" not in codes(result)
    # Only the flow's own calls to the ERP need its URL.
    assert {f.code for f in result.errors} == {"FLOW_CALL_NO_URL"}


def test_upstream_without_base_url(retail: Path) -> None:
    edit(retail / "systems/sales.yaml", "  baseUrl: http://127.0.0.1:9102\n", "")
    assert check_messages(retail) == [
        "gateway/routes.yaml:15:16: error: Route/customers routes to System/crm-legacy, which has "
        "no baseUrl"
    ]


def test_upstream_url_may_be_a_reference(retail: Path) -> None:
    edit(
        retail / "systems/sales.yaml",
        "baseUrl: http://127.0.0.1:9102",
        "baseUrl: ${env:LEGACY_URL}",
    )
    assert check_messages(retail) == []


ROUTE = """\
apiVersion: interlink/v1
kind: Route
metadata: {{name: {name}}}
spec:
  match: {match}
  upstreams: [{{system: crm}}]
"""


@pytest.mark.parametrize(
    "match",
    [
        "{path: /api/customers}",
        "{path: /api/customers/}",
    ],
)
def test_route_conflict(retail: Path, match: str) -> None:
    write(retail, "gateway/zz-more.yaml", ROUTE.format(name="customers-copy", match=match))
    assert check_messages(retail) == [
        "gateway/zz-more.yaml:5:10: error: Route/customers-copy matches exactly what "
        "Route/customers matches (Route/customers is at gateway/routes.yaml:5:1)"
    ]


def test_route_conflict_ignores_parameter_names(retail: Path) -> None:
    write(
        retail,
        "gateway/zz-more.yaml",
        ROUTE.format(name="one", match="{path: '/api/c/{id}', methods: [GET, PUT]}")
        + "---\n"
        + ROUTE.format(name="two", match="{path: '/api/c/{key}', methods: [PUT, GET]}"),
    )
    assert messages_with(retail, "ROUTE_CONFLICT") == [
        "gateway/zz-more.yaml:12:10: error: Route/two matches exactly what Route/one matches "
        "(Route/one is at gateway/zz-more.yaml:1:1)"
    ]


@pytest.mark.parametrize(
    "match",
    [
        "{path: /api/customers, methods: [GET]}",
        "{path: /api/customers, host: api.example.com}",
        "{path: '/api/customers/{id}'}",
        "{path: /api/customer}",
    ],
)
def test_no_route_conflict(retail: Path, match: str) -> None:
    write(retail, "gateway/zz-more.yaml", ROUTE.format(name="other", match=match))
    assert check_messages(retail) == []


PLAN = """\
apiVersion: interlink/v1
kind: Plan
metadata: {{name: odd}}
spec:
  limits:
{limits}
  quotas: {quotas}
"""


@pytest.mark.parametrize(
    ("limits", "quotas", "expected"),
    [
        pytest.param(
            ["{requests: 10, per: 1s}", "{requests: 20, per: 1s}"],
            "{}",
            [
                "gateway/odd.yaml:7:7: error: Plan/odd has two limits per 1s",
            ],
            id="duplicate-window",
        ),
        pytest.param(
            ["{requests: 10, per: 1s, burst: 50}"],
            "{}",
            [
                "gateway/odd.yaml:6:38: error: Plan/odd: burst 50 exceeds the limit itself "
                "(10 per 1s)",
            ],
            id="burst",
        ),
        pytest.param(
            ["{requests: 100, per: 1s}", "{requests: 50, per: 1m}"],
            "{}",
            [
                "gateway/odd.yaml:6:7: warning: Plan/odd: 100 per 1s can never be reached under "
                "50 per 1m",
            ],
            id="shadowed",
        ),
        pytest.param(
            ["{requests: 100, per: 1s}"],
            "{daily: 1000, monthly: 10}",
            [
                "gateway/odd.yaml:7:34: error: Plan/odd: monthly quota 10 is below the daily "
                "quota 1000"
            ],
            id="quota",
        ),
        pytest.param(
            ["{requests: 1, per: 1m}"],
            "{daily: 5000}",
            [
                "gateway/odd.yaml:7:19: warning: Plan/odd: the rate limits allow at most 1440 "
                "requests a day, below the daily quota 5000",
            ],
            id="quota-unreachable",
        ),
        pytest.param(
            ["{requests: 10, per: 1s, burst: 10}", "{requests: 600, per: 1m}"],
            "{daily: 100000, monthly: 2000000}",
            [],
            id="consistent",
        ),
    ],
)
def test_plan_rules(retail: Path, limits: list[str], quotas: str, expected: list[str]) -> None:
    text = PLAN.format(limits="\n".join(f"    - {limit}" for limit in limits), quotas=quotas)
    write(retail, "gateway/odd.yaml", text)
    assert check_messages(retail) == expected


def test_plan_warnings_do_not_fail_the_check(retail: Path) -> None:
    text = PLAN.format(
        limits="    - {requests: 100, per: 1s}\n    - {requests: 50, per: 1m}", quotas="{}"
    )
    write(retail, "gateway/odd.yaml", text)
    result = check_estate(retail, today=TODAY)
    assert [f.code for f in other_findings(result) if f.severity == "warning"] == [
        "PLAN_LIMIT_SHADOWED"
    ]
    assert result.errors == []
    assert result.ok


def test_platform_single(retail: Path) -> None:
    write(
        retail,
        "zz-platform.yaml",
        "apiVersion: interlink/v1\nkind: Platform\nmetadata: {name: other}\n",
    )
    assert check_messages(retail) == [
        "zz-platform.yaml:3:18: error: a second Platform (Platform/other); an estate has one "
        "(the first is Platform/retail)"
    ]


def test_no_platform_is_fine(retail: Path) -> None:
    (retail / "platform.yaml").unlink()
    result = check_estate(retail)
    assert other_findings(result) == []
    assert result.estate.platform.name == "default"


MONITOR = """\
apiVersion: interlink/v1
kind: Monitor
metadata: {{name: orphan-watch{owner}}}
spec:
  target: {{kind: Route, name: address-changes}}
  type: anomaly
  anomaly: {{metric: errors}}
{notify}"""


def test_monitor_audience(retail: Path) -> None:
    edit(
        retail / "gateway/routes.yaml",
        "  name: address-changes\n  owner: sales\n",
        "  name: address-changes\n",
    )
    write(retail, "zz-monitor.yaml", MONITOR.format(owner="", notify=""))
    assert check_messages(retail) == [
        "zz-monitor.yaml:5:3: warning: Monitor/orphan-watch tells nobody: it has no notify list "
        "and no owner"
    ]


@pytest.mark.parametrize(
    ("owner", "notify"), [(", owner: platform", ""), ("", "  notify: [platform]\n")]
)
def test_monitor_with_an_audience(retail: Path, owner: str, notify: str) -> None:
    edit(
        retail / "gateway/routes.yaml",
        "  name: address-changes\n  owner: sales\n",
        "  name: address-changes\n",
    )
    write(retail, "zz-monitor.yaml", MONITOR.format(owner=owner, notify=notify))
    assert check_messages(retail) == []


def test_monitor_inherits_the_target_owner(retail: Path) -> None:
    write(retail, "zz-monitor.yaml", MONITOR.format(owner="", notify=""))
    assert check_messages(retail) == []


# --- the result ------------------------------------------------------------------------------


def test_findings_are_sorted_by_file_then_line(retail: Path) -> None:
    edit(retail / "monitors.yaml", "notify: [sales, analytics]", "notify: [saless, analytix]")
    edit(retail / "apis.yaml", V1_OWNER, V1_OWNER.replace("owner: sales", "owner: sale"))
    write(retail, "zz.yaml", "apiVersion: interlink/v1\nkind: Sytem\n")
    result = check_estate(retail, today=TODAY)
    assert [f.render(result.estate.root) for f in other_findings(result)] == [
        "apis.yaml:7:10: error: Api/customers-v1 refers to Team/sale, which does not exist "
        "(did you mean 'sales'?)",
        "monitors.yaml:25:12: error: Monitor/addresses-fresh refers to Team/saless, which does "
        "not exist (did you mean 'sales'?)",
        "monitors.yaml:25:20: error: Monitor/addresses-fresh refers to Team/analytix, which does "
        "not exist (did you mean 'analytics'?)",
        "zz.yaml:2:7: error: unknown kind 'Sytem' (did you mean 'System'?)",
    ]
    assert not result.ok
    assert len(result.errors) == 4


def test_check_works_from_a_single_file_estate(tmp_path: Path) -> None:
    shutil.copytree(RETAIL / "contracts", tmp_path / "contracts")
    parts = [
        (RETAIL / name).read_text() for name in ("teams.yaml", "systems/sales.yaml", "apis.yaml")
    ]
    path = tmp_path / "estate.yaml"
    path.write_text("\n---\n".join(parts))
    result = check_estate(path)
    assert [f.render(result.estate.root) for f in result.findings] == []
    assert len(result.estate) == 12
    assert len(result.estate.contracts) == 2
