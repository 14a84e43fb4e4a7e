"""What `check` says of a Glossary: each mapping names a place that exists, with the nearest
name as a hint; terms are unique; a personal-data term maps to data declared personal."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.estate.check import check_estate
from tests.unit.estate.helpers import check_messages, edit, write

GLOSSARY = "glossary.yaml"


def test_the_example_glossary_is_clean(retail: Path) -> None:
    result = check_estate(retail)
    assert [f for f in result.findings if f.location and f.location.file.name == GLOSSARY] == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "{system: crm, table: customers, column: street}",
            "{system: crmm, table: customers, column: street}",
            "glossary.yaml:18:20: error: Glossary/sales refers to System/crmm, which does not "
            "exist (did you mean 'crm'?)",
            id="system",
        ),
        pytest.param(
            "{event: customer.address-updated, field: address}",
            "{event: customer.adress-updated, field: address}",
            "glossary.yaml:19:19: error: Glossary/sales refers to "
            "Event/customer.adress-updated, which does not exist (did you mean "
            "'customer.address-updated'?)",
            id="event",
        ),
        pytest.param(
            "{event: customer.address-updated, field: address}",
            "{event: customer.address-updated, field: adress}",
            "glossary.yaml:19:52: error: Glossary/sales: term 'Customer address' maps to field "
            "'adress' of Event/customer.address-updated, which its latest schema does not have "
            "(did you mean 'address'?)",
            id="event-field",
        ),
        pytest.param(
            "{event: customer.address-updated, field: address}",
            "{event: customer.address-updated, field: data.address}",
            "glossary.yaml:19:52: error: Glossary/sales: term 'Customer address' maps to field "
            "'data.address' of Event/customer.address-updated, which its latest schema does not "
            "have (fields are paths inside the event's data: 'address')",
            id="event-field-cloudevents-spelling",
        ),
        pytest.param(
            "{product: customer-addresses, column: postal_code}",
            "{product: customer-addresses, column: postcode}",
            "glossary.yaml:31:49: error: Glossary/sales: term 'Postal code' maps to column "
            "'postcode' of DataProduct/customer-addresses, whose contract has no such column "
            "(did you mean 'postal_code'?)",
            id="product-column",
        ),
        pytest.param(
            "{api: customers-v2, field: Customer.id}",
            "{api: customers-v2, field: Customer.idd}",
            "glossary.yaml:41:38: error: Glossary/sales: term 'Customer ID' maps to "
            "'Customer.idd' of Api/customers-v2: schema Customer has no property 'idd' (did you "
            "mean 'id'?)",
            id="api-property-through-allof",
        ),
        pytest.param(
            "{api: customers-v2, field: Address}",
            "{api: customers-v2, field: Adress}",
            "glossary.yaml:21:38: error: Glossary/sales: term 'Customer address' maps to "
            "'Adress' of Api/customers-v2: its contract has no such schema under "
            "components.schemas (did you mean 'Address'?)",
            id="api-schema",
        ),
        pytest.param(
            "related: [Customer ID]",
            "related: [Customer IDs]",
            "glossary.yaml:45:17: error: Glossary/sales: term 'Order total' is related to "
            "'Customer IDs', which no Glossary defines (did you mean 'Customer ID'?)",
            id="related",
        ),
    ],
)
def test_a_mapping_to_nothing_is_located_with_the_nearest_name(
    retail: Path, old: str, new: str, expected: str
) -> None:
    edit(retail / GLOSSARY, old, new)
    assert check_messages(retail) == [expected]


def test_a_field_of_an_older_schema_only_is_refused(retail: Path) -> None:
    edit(retail / GLOSSARY, "field: address.postalCode}", "field: address.zip}")
    schema = retail / "contracts" / "customer.address-updated.v1.schema.json"
    edit(schema, '"postalCode"', '"zip"', count=2)  # v1 had it; the latest has not
    assert check_messages(retail) == [
        "glossary.yaml:30:52: error: Glossary/sales: term 'Postal code' maps to field "
        "'address.zip' of Event/customer.address-updated, which its latest schema does not "
        "have (did you mean 'address.city'?)"
    ]


def test_a_personal_data_term_wants_its_data_declared_personal(retail: Path) -> None:
    edit(retail / GLOSSARY, "      synonyms: [order amount, order value]\n", "      pii: true\n")
    edit(retail / "data" / "customer-addresses.yaml", "{name: street, type: string, pii: true}",
         "{name: street, type: string}")  # fmt: skip
    assert check_messages(retail) == [
        "glossary.yaml:20:49: warning: Glossary/sales: term 'Customer address' is personal "
        "data, but column 'street' of DataProduct/customer-addresses is not marked pii",
        "glossary.yaml:47:40: warning: Glossary/sales: term 'Order total' is personal data, "
        "but Event/order.placed does not list 'amount' in classification.pii",
    ]


def test_a_term_is_defined_once_across_glossaries(retail: Path) -> None:
    write(
        retail,
        "finance-glossary.yaml",
        """\
        apiVersion: interlink/v1
        kind: Glossary
        metadata: {name: finance, owner: finance}
        spec:
          terms:
            - {name: ORDER TOTAL, definition: The invoiced amount.}
        """,
    )
    assert check_messages(retail) == [
        "glossary.yaml:42:13: error: term 'Order total' is defined twice (also in "
        "Glossary/finance at finance-glossary.yaml:6:7)"
    ]
