"""What `check` says of Glossaries beyond their references: each mapping names a place that
exists, term names are unique across the estate, related terms exist, and a personal-data term
is mapped only where the data is declared personal.

An unknown System, Event, DataProduct, Api or Team is a dangling reference (``REF_UNKNOWN``,
`links.py`); these findings are about what lies inside a target that exists. A System's tables
are not declared in the estate, so a system mapping is checked for the System alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from interlink.estate.findings import Finding
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds import Api, DataProduct, Event
from interlink.estate.kinds.glossary import Glossary, Term, TermMapping, slug
from interlink.estate.model import Estate, Loaded
from interlink.estate.schema_fields import openapi_schemas, schema_properties


@dataclass(frozen=True)
class PlacedTerm:
    """A term and the Glossary it is written in, at ``index`` of its terms."""

    item: Loaded
    index: int
    term: Term

    @property
    def path(self) -> tuple[str | int, ...]:
        return ("spec", "terms", self.index)

    @property
    def owner(self) -> str | None:
        return self.term.owner or self.item.obj.metadata.owner


def terms(estate: Estate) -> list[PlacedTerm]:
    """Every term of every Glossary, in the order they are loaded."""
    out: list[PlacedTerm] = []
    for item in estate.loaded_of("Glossary"):
        assert isinstance(item.obj, Glossary)
        out.extend(PlacedTerm(item, i, t) for i, t in enumerate(item.obj.spec.terms))
    return out


def glossary_findings(estate: Estate) -> Iterator[Finding]:
    placed = terms(estate)
    yield from _duplicates(placed, estate)
    names = {t.term.slug: t.term.name for t in placed}
    read = _Reader(estate)
    for term in placed:
        for i, related in enumerate(term.term.related):
            if slug(related) not in names:
                yield term.item.finding(
                    (*term.path, "related", i),
                    "GLOSSARY_RELATED",
                    f"{term.item.key}: term '{term.term.name}' is related to '{related}', "
                    "which no Glossary defines",
                    hint=did_you_mean(related, names.values()),
                )
        for j, mapping in enumerate(term.term.mappings):
            yield from _mapping(estate, term, j, mapping, read)


def _duplicates(placed: list[PlacedTerm], estate: Estate) -> Iterator[Finding]:
    first: dict[str, PlacedTerm] = {}
    for term in placed:
        seen = first.setdefault(term.term.slug, term)
        if seen is not term and seen.item is not term.item:  # within one: the model refuses
            where = seen.item.location(seen.path).render(estate.root)
            yield term.item.finding(
                (*term.path, "name"),
                "GLOSSARY_TERM_DUPLICATE",
                f"term '{term.term.name}' is defined twice",
                hint=f"also in {seen.item.key} at {where}",
            )


def _mapping(
    estate: Estate, term: PlacedTerm, j: int, mapping: TermMapping, read: _Reader
) -> Iterator[Finding]:
    kind, name = mapping.target
    target = estate.get(kind, name)
    if target is None:
        return  # a dangling reference, said as one
    at = (*term.path, "mappings", j)
    if isinstance(target.obj, Event):
        yield from _event_field(term, at, target, mapping, read.event_fields(target))
    elif isinstance(target.obj, DataProduct):
        yield from _product_column(term, at, target.obj, mapping)
    elif isinstance(target.obj, Api):
        yield from _api_field(term, at, target, mapping, read)


def _event_field(
    term: PlacedTerm,
    at: tuple[str | int, ...],
    target: Loaded,
    m: TermMapping,
    fields: dict[str, Any] | None,
) -> Iterator[Finding]:
    if fields is None or m.field is None:
        return  # the schema's own problem is reported where the Event names it
    if m.field not in fields:
        hint = did_you_mean(m.field, fields)
        if m.field.startswith("data.") and m.field[5:] in fields:
            hint = f"fields are paths inside the event's data: '{m.field[5:]}'"
        yield term.item.finding(
            (*at, "field"),
            "GLOSSARY_FIELD",
            f"{term.item.key}: term '{term.term.name}' maps to field '{m.field}' of "
            f"{target.key}, which its latest schema does not have",
            hint=hint,
        )
        return
    event = target.obj
    assert isinstance(event, Event)
    declared = event.spec.classification.pii
    if term.term.pii and not any(_overlap(m.field, p) for p in declared):
        yield term.item.finding(
            (*at, "field"),
            "GLOSSARY_PII",
            f"{term.item.key}: term '{term.term.name}' is personal data, but {target.key} "
            f"does not list '{m.field}' in classification.pii",
            severity="warning",
        )


def _overlap(field: str, declared: str) -> bool:
    """Whether a declared PII path is the field, inside it, or holds it."""
    return field == declared or declared.startswith(field + ".") or field.startswith(declared + ".")


def _product_column(
    term: PlacedTerm, at: tuple[str | int, ...], product: DataProduct, m: TermMapping
) -> Iterator[Finding]:
    columns = {c.name: c for c in product.spec.contract.columns}
    if not columns or m.column is None:
        return  # a contract given by its file alone: its columns are not read here
    column = columns.get(m.column)
    if column is None:
        yield term.item.finding(
            (*at, "column"),
            "GLOSSARY_COLUMN",
            f"{term.item.key}: term '{term.term.name}' maps to column '{m.column}' of "
            f"{product.key}, whose contract has no such column",
            hint=did_you_mean(m.column, columns),
        )
    elif term.term.pii and not column.pii:
        yield term.item.finding(
            (*at, "column"),
            "GLOSSARY_PII",
            f"{term.item.key}: term '{term.term.name}' is personal data, but column "
            f"'{m.column}' of {product.key} is not marked pii",
            severity="warning",
        )


def _api_field(
    term: PlacedTerm, at: tuple[str | int, ...], target: Loaded, m: TermMapping, read: _Reader
) -> Iterator[Finding]:
    assert m.field is not None
    name, _, path = m.field.partition(".")
    schemas = read.api_schemas(target)
    if schemas is None:
        return  # no contract: reported where the Api names it
    problem = hint = None
    if name not in schemas:
        problem = "its contract has no such schema under components.schemas"
        hint = did_you_mean(name, schemas)
    elif path:
        fields = read.api_fields(target, name)
        if path not in fields:
            problem = f"schema {name} has no property '{path}'"
            hint = did_you_mean(path, fields)
    if problem:
        yield term.item.finding(
            (*at, "field"),
            "GLOSSARY_FIELD",
            f"{term.item.key}: term '{term.term.name}' maps to '{m.field}' of {target.key}: "
            f"{problem}",
            hint=hint,
        )


class _Reader:
    """Event schemas' and Api contracts' fields, each read once however many terms map to
    it (a glossary of hundreds of terms maps most of them to a few objects)."""

    def __init__(self, estate: Estate) -> None:
        self.estate = estate
        self._events: dict[str, dict[str, Any] | None] = {}
        self._documents: dict[str, Any] = {}
        self._apis: dict[tuple[str, str], dict[str, Any]] = {}

    def event_fields(self, event: Loaded) -> dict[str, Any] | None:
        """The latest schema's fields; None when it could not be read."""
        if event.key not in self._events:
            schema = self.estate.event_schema(event)
            self._events[event.key] = None if schema is None else dict(schema_properties(schema))
        return self._events[event.key]

    def _document(self, api: Loaded) -> Any:
        if api.key not in self._documents:
            assert isinstance(api.obj, Api)
            contract = self.estate.contracts.get(api.resolve_file(api.obj.spec.contract))
            self._documents[api.key] = None if contract is None else contract.data
        return self._documents[api.key]

    def api_schemas(self, api: Loaded) -> dict[str, Any] | None:
        """The contract's named schemas; None when it could not be read."""
        document = self._document(api)
        return None if document is None else openapi_schemas(document)

    def api_fields(self, api: Loaded, name: str) -> dict[str, Any]:
        """The properties of the contract's schema ``name`` (which exists)."""
        if (api.key, name) not in self._apis:
            document = self._document(api)
            schema = openapi_schemas(document)[name]
            self._apis[api.key, name] = dict(schema_properties(schema, root=document))
        return self._apis[api.key, name]
