"""What `check` finds in DataProducts: a contract file that is not valid ODCS, a column named
(by the refresh cursor, the freshness or a mask) that the contract does not list, column
rules that cannot apply to the column's type, and a product a Route serves with PII columns
but no ``subject`` (its reads could not be traced per data subject). Whether the source's
System can serve the source type is judged with the connectors (``estate/connections.py``,
``PRODUCT_SOURCE``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from interlink.estate.findings import Finding
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds.data import (
    Column,
    ColumnType,
    Condition,
    DataContract,
    DataProduct,
    DataProductSpec,
)
from interlink.estate.kinds.gateway import Route
from interlink.estate.model import Estate, Loaded
from interlink.estate.odcs import OdcsError, effective

PRODUCT_CONTRACT = "PRODUCT_CONTRACT"
PRODUCT_SUBJECT = "PRODUCT_SUBJECT"

_ORDERED = (ColumnType.INTEGER, ColumnType.NUMBER, ColumnType.DATE, ColumnType.TIMESTAMP)
_VALUE_TYPES = {
    ColumnType.STRING: (str,),
    ColumnType.INTEGER: (int,),
    ColumnType.NUMBER: (int, float),
    ColumnType.BOOLEAN: (bool,),
    ColumnType.DATE: (str,),
    ColumnType.TIMESTAMP: (str,),
}


def contract_of(item: Loaded) -> DataContract:
    """The product's contract with its ODCS file read in; OdcsError when the file is bad."""
    assert isinstance(item.obj, DataProduct)
    contract = item.obj.spec.contract
    base = Path(item.doc.file).parent if contract.file is not None else None
    return effective(contract, base)


def contract_findings(estate: Estate) -> Iterator[Finding]:
    for item in estate.loaded_of("DataProduct"):
        assert isinstance(item.obj, DataProduct)
        spec = item.obj.spec
        try:
            contract = contract_of(item)
        except OdcsError as exc:
            yield item.finding(("spec", "contract", "file"), PRODUCT_CONTRACT, f"{item.key}: {exc}")
            continue
        names = [c.name for c in contract.columns]
        named: list[tuple[tuple[str | int, ...], str, str]] = []
        if spec.refresh is not None and spec.refresh.cursor is not None:
            named.append((("spec", "refresh", "cursor"), spec.refresh.cursor, "the refresh cursor"))
        if spec.freshness is not None and spec.freshness.column is not None:
            named.append((("spec", "freshness", "column"), spec.freshness.column, "freshness"))
        for i, mask in enumerate(spec.masking):
            named.append((("spec", "masking", i, "column"), mask.column, "a mask"))
        named += _row_filter_columns(spec)
        yield from _row_filter_consumers(item, estate)
        yield from _row_filter_values(item, contract)
        for path, name, what in named:
            if name not in names:
                yield item.finding(
                    path,
                    PRODUCT_CONTRACT,
                    f"{item.key}: {what} names column {name!r}, which the contract does not list",
                    hint=did_you_mean(name, names),
                )
        for i, column in enumerate(spec.contract.columns):
            for field, message in _rule_problems(column):
                yield item.finding(
                    ("spec", "contract", "columns", i, field),
                    PRODUCT_CONTRACT,
                    f"{item.key}: column {column.name!r}: {message}",
                )


def subject_findings(estate: Estate) -> Iterator[Finding]:
    """A product a Route serves whose contract has PII columns declares whose data they are:
    every read is recorded anyway (a ``read`` record per answer), but only a ``subject``
    records each row served under its subject's key, which answers "who received my data"."""
    routes: dict[str, list[str]] = {}
    for route in estate.of(Route):
        if route.spec.product is not None:
            routes.setdefault(route.spec.product, []).append(route.name)
    for item in estate.loaded_of("DataProduct"):
        assert isinstance(item.obj, DataProduct)
        spec = item.obj.spec
        serving = routes.get(item.obj.name)
        if spec.subject is not None or not serving:
            continue
        try:
            contract = contract_of(item)
        except OdcsError:
            continue  # said by contract_findings
        pii = [c.name for c in contract.columns if c.pii]
        if not pii:
            continue
        keys = [c.name for c in contract.columns if c.unique and not c.pii] or ["COLUMN"]
        inline = [i for i, c in enumerate(spec.contract.columns) if c.pii]
        at: tuple[str | int, ...] = ("spec", "contract", "file")
        if inline:  # at the first PII column, when the estate lists them
            at = ("spec", "contract", "columns", inline[0], "pii")
        yield item.finding(
            at,
            PRODUCT_SUBJECT,
            f"{item.key} serves PII column(s) {', '.join(pii)} through "
            f"{', '.join(f'Route/{r}' for r in sorted(serving))} and declares no subject: its "
            "rows served could not be traced per data subject",
            hint=f"add subject: {{type: TYPE, key: {keys[0]}}}, TYPE whose data it is (customer)",
        )


def _row_filter_columns(spec: DataProductSpec) -> list[tuple[tuple[str | int, ...], str, str]]:
    return [
        (("spec", "rowFilters", i, "where", name), name, f"the row filter of Consumer/{f.consumer}")
        for i, f in enumerate(spec.row_filters)
        for name in f.where
    ]


def _row_filter_consumers(item: Loaded, estate: Estate) -> Iterator[Finding]:
    assert isinstance(item.obj, DataProduct)
    for i, row_filter in enumerate(item.obj.spec.row_filters):
        if estate.get("Consumer", row_filter.consumer) is None:
            yield item.finding(
                ("spec", "rowFilters", i, "consumer"),
                PRODUCT_CONTRACT,
                f"{item.key}: a row filter names Consumer/{row_filter.consumer}, which does not "
                "exist",
            )


def _row_filter_values(item: Loaded, contract: DataContract) -> Iterator[Finding]:
    """Each row filter's values are of their column's type, and an ordering (lt, le, gt,
    ge) compares a column that has an order."""
    assert isinstance(item.obj, DataProduct)
    kinds = {c.name: c.type for c in contract.columns}
    for i, row_filter in enumerate(item.obj.spec.row_filters):
        for name, wanted in row_filter.where.items():
            kind = kinds.get(name)
            if kind is None:
                continue  # named above: the column is not in the contract
            compared = wanted.operators() if isinstance(wanted, Condition) else [("eq", wanted)]
            for op, value in compared:
                path: tuple[str | int, ...] = ("spec", "rowFilters", i, "where", name)
                if isinstance(wanted, Condition):
                    path += (op,)
                problem = _comparison_problem(op, value, kind)
                if problem:
                    yield item.finding(
                        path,
                        PRODUCT_CONTRACT,
                        f"{item.key}: the row filter of Consumer/{row_filter.consumer} on "
                        f"{name!r}: {problem}",
                    )


def _comparison_problem(op: str, value: object, kind: ColumnType) -> str | None:
    if op in ("lt", "le", "gt", "ge") and kind is ColumnType.BOOLEAN:
        return f"{op} compares ordered values, not a boolean"
    for one in value if isinstance(value, list) else [value]:
        if not _fits(one, kind):
            return f"{one!r} is not a {kind.value}"
    return None


def _fits(value: object, kind: ColumnType) -> bool:
    if isinstance(value, bool) and kind is not ColumnType.BOOLEAN:
        return False
    if not isinstance(value, _VALUE_TYPES[kind]):
        return False
    if kind in (ColumnType.DATE, ColumnType.TIMESTAMP):
        try:
            datetime.fromisoformat(str(value))
        except ValueError:
            return False
    return True


def _rule_problems(column: Column) -> Iterator[tuple[str, str]]:
    kind = column.type
    if (column.minimum is not None or column.maximum is not None) and kind not in _ORDERED:
        field = "minimum" if column.minimum is not None else "maximum"
        yield field, f"{field} applies to numbers, dates and timestamps, not {kind.value}"
    for field, bound in (("minimum", column.minimum), ("maximum", column.maximum)):
        if bound is None or kind not in _ORDERED:
            continue
        if kind in (ColumnType.DATE, ColumnType.TIMESTAMP) and not isinstance(bound, str):
            yield field, f"a {kind.value}'s {field} is an ISO 8601 date, not {bound!r}"
        elif kind in (ColumnType.INTEGER, ColumnType.NUMBER) and isinstance(bound, str):
            yield field, f"a {kind.value}'s {field} is a number, not {bound!r}"
    if column.pattern is not None and kind is not ColumnType.STRING:
        yield "pattern", f"pattern applies to strings, not {kind.value}"
    if column.allowed is not None:
        fits = _VALUE_TYPES[kind]
        wrong = [
            v
            for v in column.allowed
            if not isinstance(v, fits) or (isinstance(v, bool) and kind is not ColumnType.BOOLEAN)
        ]
        if wrong:
            yield "allowed", f"allowed value {wrong[0]!r} is not a {kind.value}"


PRODUCT_RULES = [
    (
        PRODUCT_CONTRACT,
        "a DataProduct's contract file is valid ODCS v3, the columns its refresh cursor, "
        "freshness and masks name are in its contract, and its column rules fit their types",
        contract_findings,
    ),
    (
        PRODUCT_SUBJECT,
        "a DataProduct a Route serves whose contract has PII columns declares a subject, so "
        "each row served is recorded under its data subject's key",
        subject_findings,
    ),
]
