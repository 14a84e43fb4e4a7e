"""A DataProduct as an Open Data Contract Standard (ODCS v3.0.2-compatible, written as v3.2.0)
document: what `interlink export odcs PRODUCT` writes.

One schema object named after the product, one property per contract column (its
``logicalType``, ``required``, ``unique``, ``classification: pii``, ``enum`` of allowed values,
``logicalTypeOptions`` with the range and pattern), and the row count bounds as a ``rowCount``
quality rule. The document is validated against the standard's JSON Schema before it is
written; reading it back as a product's ``contract.file`` gives the same columns.
"""

from __future__ import annotations

from typing import Any

from interlink.errors import NotFound
from interlink.estate.kinds.data import Column, DataContract, DataProduct, RowCount
from interlink.estate.model import Estate
from interlink.estate.odcs import validate
from interlink.estate.product_rules import contract_of

ODCS_VERSION = "v3.2.0"


def odcs_document(estate: Estate, name: str) -> dict[str, Any]:
    """The ODCS document of DataProduct ``name``; NotFound when there is none."""
    item = estate.get("DataProduct", name)
    if item is None or not isinstance(item.obj, DataProduct):
        raise NotFound(f"no DataProduct {name!r} in the estate")
    product = item.obj
    contract: DataContract = contract_of(item)
    table: dict[str, Any] = {
        "name": name,
        "physicalType": "table",
        "properties": [_property(c) for c in contract.columns],
    }
    if contract.row_count is not None:
        table["quality"] = [_row_count(contract.row_count)]
    document: dict[str, Any] = {
        "apiVersion": ODCS_VERSION,
        "kind": "DataContract",
        "id": f"{product.spec.domain}.{name}",
        "name": product.metadata.title or name,
        "version": "1.0.0",
        "status": "active",
        "domain": product.spec.domain,
        "dataProduct": name,
        "schema": [table],
    }
    if product.metadata.description:
        document["description"] = {"purpose": product.metadata.description}
    if product.metadata.owner:
        document["team"] = {"name": product.metadata.owner}
    validate(document)
    return document


def _property(column: Column) -> dict[str, Any]:
    prop: dict[str, Any] = {"name": column.name, "logicalType": column.type.value}
    if column.description:
        prop["description"] = column.description
    if not column.nullable:
        prop["required"] = True
    if column.unique:
        prop["unique"] = True
    if column.pii:
        prop["classification"] = "pii"
    if column.allowed is not None:
        prop["enum"] = [{"value": v} for v in column.allowed]
    options: dict[str, Any] = {}
    if column.minimum is not None:
        options["minimum"] = column.minimum
    if column.maximum is not None:
        options["maximum"] = column.maximum
    if column.pattern is not None:
        options["pattern"] = column.pattern
    if options:
        prop["logicalTypeOptions"] = options
    return prop


def _row_count(bounds: RowCount) -> dict[str, Any]:
    rule: dict[str, Any] = {"type": "library", "metric": "rowCount", "unit": "rows"}
    if bounds.min is not None and bounds.max is not None and bounds.min != bounds.max:
        rule["mustBeBetween"] = [bounds.min, bounds.max]
    elif bounds.min is not None and bounds.min == bounds.max:
        rule["mustBe"] = bounds.min
    elif bounds.min is not None:
        rule["mustBeGreaterOrEqualTo"] = bounds.min
    else:
        rule["mustBeLessOrEqualTo"] = bounds.max
    return rule
