"""Search over the estate: its objects, their events' fields, APIs' schemas and products'
columns, and the glossary's terms, ranked by how the text matches.

Scoring is plain and needs nothing installed: a name (or title, field, column, synonym) equal
to the query beats one starting with it, which beats one holding every word of it, which beats
a mapping or a description holding them. Case is ignored, and ``postalCode``, ``postal_code``
and ``postal-code`` are the same words. Fields and columns rank a little under objects that
match as well, since they are found inside them. Positions are worked out only for the hits
returned: reading them means parsing their files again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlink.errors import BadRequest, NotFound
from interlink.estate.findings import Location
from interlink.estate.glossary_rules import PlacedTerm, terms
from interlink.estate.hints import nearest
from interlink.estate.kinds import Api, DataProduct, Event
from interlink.estate.kinds.glossary import slug
from interlink.estate.model import Estate, Loaded
from interlink.estate.schema_fields import openapi_schemas, placed_properties
from interlink.estate.yamlsource import Document, PathKey

#: What --kind takes, and the estate kind each stands for, in the order hits that score the
#: same are shown: the business's own words first. A Term is a glossary's entry.
SEARCH_KINDS: dict[str, str] = {
    "term": "Term",
    "system": "System",
    "api": "Api",
    "event": "Event",
    "product": "DataProduct",
    "team": "Team",
    "glossary": "Glossary",
    "flow": "Flow",
    "route": "Route",
    "subscription": "Subscription",
    "consumer": "Consumer",
    "plan": "Plan",
    "monitor": "Monitor",
    "platform": "Platform",
}

EXACT, PREFIX, WORDS, WORD_PREFIX, INSIDE, MAPPING, DESCRIPTION = 100, 80, 60, 50, 40, 30, 20
_PART_PENALTY = 5  # a field or column ranks under its object when both match as well
MAX_QUERY = 200


@dataclass(frozen=True)
class Entry:
    """One thing search can find: an object, a field, a column or a term."""

    kind: str  # the estate kind, or Term
    name: str  # the object's name, or the term's
    part: str | None  # the field or column inside the object
    names: tuple[Text, ...]  # name, title, field, synonym, …
    texts: tuple[Text, ...]  # description, definition, mapping
    doc: Document
    path: PathKey
    summary: str = ""


def _texts(pairs: Iterable[tuple[str, str]]) -> tuple[Text, ...]:
    return tuple(Text.of(what, text) for what, text in pairs)


def _prose(pairs: Iterable[tuple[str, str]]) -> tuple[Text, ...]:
    return tuple(Text.prose(what, text) for what, text in pairs)


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: int
    what: str  # what matched: name, synonym, field, description, …
    text: str  # the text it matched in

    @property
    def location(self) -> Location:
        return self.entry.doc.location(self.entry.path, key=True)

    def to_json(self, root: Path | None = None) -> dict[str, Any]:
        where = self.location
        return {
            "kind": self.entry.kind,
            "name": self.entry.name,
            "part": self.entry.part,
            "score": self.score,
            "matched": self.what,
            "text": self.text,
            "summary": self.entry.summary,
            "file": where.render(root).rsplit(":", 2)[0],
            "line": where.line,
        }


def words(text: str) -> list[str]:
    """Lower-case words: ``postalCode`` and ``postal_code`` are both ``postal code``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


@dataclass(frozen=True)
class Text:
    """A text as search compares it, worked out once when the index is built."""

    what: str
    text: str
    lower: str
    slug: str
    words: tuple[str, ...]

    @classmethod
    def of(cls, what: str, text: str) -> Text:
        return cls(what, text, text.lower(), slug(text), tuple(words(text)))

    @classmethod
    def prose(cls, what: str, text: str) -> Text:
        """A description: only searched for the query's words inside it, so not split."""
        return cls(what, text, text.lower(), "", ())


@dataclass(frozen=True)
class Query:
    text: str
    lower: str
    slug: str
    words: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Query:
        return cls(text, text.lower(), slug(text), tuple(words(text)))


def score_name(query: Query, name: Text) -> int:
    if query.lower == name.lower or query.slug == name.slug:
        return EXACT
    if name.lower.startswith(query.lower):
        return PREFIX
    wanted, have = query.words, name.words
    if wanted and all(w in have for w in wanted):
        return WORDS
    if wanted and all(any(h.startswith(w) for h in have) for w in wanted):
        return WORD_PREFIX
    return INSIDE if query.lower in name.lower else 0


def score_text(query: Query, text: Text, best: int) -> int:
    return best if query.words and all(w in text.lower for w in query.words) else 0


class Catalog:
    """The estate's searchable entries, built once per estate (contracts loaded)."""

    def __init__(self, estate: Estate) -> None:
        self.estate = estate
        self.entries = list(_entries(estate))

    def search(self, query: str, *, kind: str | None = None, limit: int = 20) -> list[Hit]:
        """The best ``limit`` hits for ``query``, best first; ``kind`` one of SEARCH_KINDS."""
        query = query.strip()
        if not query:
            raise BadRequest("the search text is empty")
        if len(query) > MAX_QUERY:
            raise BadRequest(f"the search text is longer than {MAX_QUERY} characters")
        wanted = None
        if kind is not None:
            wanted = SEARCH_KINDS.get(kind.lower())
            if wanted is None:
                raise BadRequest(f"unknown kind {kind!r}: one of {', '.join(SEARCH_KINDS)}")
        hits: list[Hit] = []
        prepared = Query.of(query)
        for entry in self.entries:
            if wanted is not None and entry.kind != wanted:
                continue
            hit = _best(entry, prepared)
            if hit is not None:
                hits.append(hit)
        order = {k: i for i, k in enumerate(SEARCH_KINDS.values())}
        hits.sort(
            key=lambda h: (-h.score, order.get(h.entry.kind, 99), h.entry.name, h.entry.part or "")
        )
        return hits[:limit]


def _best(entry: Entry, query: Query) -> Hit | None:
    penalty = _PART_PENALTY if entry.part is not None else 0
    best: Hit | None = None
    for name in entry.names:
        score = score_name(query, name)
        if score and (best is None or score - penalty > best.score):
            best = Hit(entry, score - penalty, name.what, name.text)
    if best is not None:
        return best
    for text in entry.texts:
        score = score_text(query, text, MAPPING if text.what == "mapping" else DESCRIPTION)
        if score and (best is None or score - penalty > best.score):
            best = Hit(entry, score - penalty, text.what, text.text)
    return best


def _entries(estate: Estate) -> Iterator[Entry]:
    for item in estate:
        yield _object_entry(item)
        if isinstance(item.obj, Event):
            yield from _event_fields(estate, item)
        elif isinstance(item.obj, Api):
            yield from _api_fields(estate, item)
        elif isinstance(item.obj, DataProduct):
            yield from _columns(item)
    for term in terms(estate):
        yield _term_entry(term)


def _object_entry(item: Loaded) -> Entry:
    meta = item.obj.metadata
    names = [("name", item.obj.name)]
    if meta.title:
        names.append(("title", meta.title))
    texts = [("description", meta.description)] if meta.description else []
    return Entry(
        item.obj.KIND,
        item.obj.name,
        None,
        _texts(names),
        _prose(texts),
        item.doc,
        ("metadata", "name"),
        meta.title or meta.description,
    )


def _event_fields(estate: Estate, item: Loaded) -> Iterator[Entry]:
    assert isinstance(item.obj, Event)
    latest = item.obj.spec.schemas[-1]
    contract = estate.contracts.get(item.resolve_file(latest.file))
    if contract is None:
        return
    for path, sub, at in placed_properties(contract.data):
        yield _field_entry("Event", item.obj.name, path, sub, contract.doc, at)


def _field_entry(
    kind: str,
    name: str,
    path: str,
    sub: dict[str, Any],
    doc: Document,
    at: PathKey,
    what: str = "field",
) -> Entry:
    description = sub.get("description")
    texts = (("field description", description),) if isinstance(description, str) else ()
    leaf = path.rsplit(".", 1)[-1]
    names = ((what, path), (what, leaf)) if leaf != path else ((what, path),)
    summary = description if isinstance(description, str) else str(sub.get("type", ""))
    return Entry(kind, name, path, _texts(names), _prose(texts), doc, at, summary)


def _api_fields(estate: Estate, item: Loaded) -> Iterator[Entry]:
    """Each named schema of the Api's contract and its properties (``Customer.id``). A
    property a ``$ref`` brings into another schema is found where it is written."""
    assert isinstance(item.obj, Api)
    contract = estate.contracts.get(item.resolve_file(item.obj.spec.contract))
    if contract is None:
        return
    for schema, node in openapi_schemas(contract.data).items():
        at = ("components", "schemas", schema)
        if isinstance(node, dict):
            yield _field_entry("Api", item.obj.name, schema, node, contract.doc, at, "schema")
        for path, sub, where in placed_properties(node, f"{schema}.", root=contract.data, at=at):
            if where[:3] == at:  # one entry per property: under the schema it is written in
                yield _field_entry("Api", item.obj.name, path, sub, contract.doc, where)


def _columns(item: Loaded) -> Iterator[Entry]:
    assert isinstance(item.obj, DataProduct)
    for i, column in enumerate(item.obj.spec.contract.columns):
        texts = (("column description", column.description),) if column.description else ()
        yield Entry(
            "DataProduct",
            item.obj.name,
            column.name,
            _texts([("column", column.name)]),
            _prose(texts),
            item.doc,
            ("spec", "contract", "columns", i),
            column.description or column.type.value,
        )


def _term_entry(placed: PlacedTerm) -> Entry:
    term = placed.term
    names = (("term", term.name), *(("synonym", s) for s in term.synonyms))
    mappings = tuple(("mapping", m.render()) for m in term.mappings)
    return Entry(
        "Term",
        term.name,
        None,
        _texts(names),
        _prose([("definition", term.definition), *mappings]),
        placed.item.doc,
        placed.path,
        term.definition,
    )


def find_term(estate: Estate, name: str) -> PlacedTerm:
    """The term called ``name`` (any case, or its synonym); NotFound with the nearest."""
    placed = terms(estate)
    wanted = slug(name)
    for term in placed:
        if term.term.slug == wanted:
            return term
    for term in placed:
        if wanted in (slug(s) for s in term.term.synonyms):
            return term
    spoken = {s: t.term.name for t in placed for s in (t.term.name, *t.term.synonyms)}
    close = nearest(name, spoken)
    hint = f"did you mean '{spoken[close]}'?" if close else None
    if not placed:
        raise NotFound(f"no term {name!r}: the estate has no Glossary")
    raise NotFound(f"no term {name!r}" + (f" ({hint})" if hint else ""))


def term_json(placed: PlacedTerm, root: Path | None = None) -> dict[str, Any]:
    """A term with everything said of it, and where each mapping is written."""
    term = placed.term

    def where(path: PathKey) -> dict[str, Any]:
        at = placed.item.location(path)
        return {"file": at.render(root).rsplit(":", 2)[0], "line": at.line}

    mappings = []
    for j, m in enumerate(term.mappings):
        kind, name = m.target
        mappings.append(
            {"kind": kind, "name": name, "place": m.place, **where((*placed.path, "mappings", j))}
        )
    return {
        "name": term.name,
        "glossary": placed.item.obj.name,
        "definition": term.definition,
        "owner": placed.owner,
        "synonyms": list(term.synonyms),
        "classification": term.classification.value if term.classification else None,
        "pii": term.pii,
        "related": list(term.related),
        "mappings": mappings,
        **where(placed.path),
    }
