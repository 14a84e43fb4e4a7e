"""Glossary: business terms, what they mean, and where each is held across the estate.

One Glossary holds many terms (a domain's, typically), so hundreds of terms stay a few files
with their owner said once. A term maps to the places its data lives: a column of a System's
table (the estate does not declare tables, so only the System is checked), a field of an
Event's payload, a column of a DataProduct's contract, or a property of an Api's schema.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from interlink.estate.kinds.base import Classification, EstateObject, Model, Name

#: What each kind of mapping names besides its target, and what it must not.
_SHAPES: dict[str, tuple[set[str], set[str]]] = {
    "system": ({"table", "column"}, {"field"}),
    "event": ({"field"}, {"table", "column"}),
    "product": ({"column"}, {"table", "field"}),
    "api": ({"field"}, {"table", "column"}),
}


class TermMapping(Model):
    """One place a term's data is held. Exactly one of system, event, product or api."""

    system: Name | None = Field(default=None, description="a System; with table and column")
    table: str | None = Field(default=None, description="a table of the System")
    column: str | None = Field(
        default=None, description="a column of the System's table or of the DataProduct"
    )
    event: Name | None = Field(default=None, description="an Event type; with field")
    product: Name | None = Field(default=None, description="a DataProduct; with column")
    api: Name | None = Field(default=None, description="an Api; with field")
    field: str | None = Field(
        default=None,
        description="an Event's payload field as a dotted path (address.street), or an Api's "
        "schema property: the schema's name under components.schemas, then the path "
        "(Customer.address)",
    )

    @model_validator(mode="after")
    def _one_target(self) -> TermMapping:
        targets = [t for t in _SHAPES if getattr(self, t) is not None]
        if len(targets) != 1:
            raise ValueError("a mapping names exactly one of system, event, product or api")
        needs, refuses = _SHAPES[targets[0]]
        missing = sorted(f for f in needs if getattr(self, f) is None)
        if missing:
            raise ValueError(f"{_a(targets[0])} mapping needs {' and '.join(missing)}")
        extra = sorted(f for f in refuses if getattr(self, f) is not None)
        if extra:
            raise ValueError(f"{_a(targets[0])} mapping has no {' or '.join(extra)}")
        return self

    @property
    def target(self) -> tuple[str, str]:
        """The estate object mapped to: (kind, name)."""
        if self.system is not None:
            return "System", self.system
        if self.event is not None:
            return "Event", self.event
        if self.product is not None:
            return "DataProduct", self.product
        assert self.api is not None
        return "Api", self.api

    @property
    def key(self) -> str:
        """The field that names the target: system, event, product or api."""
        return next(t for t in _SHAPES if getattr(self, t) is not None)

    @property
    def place(self) -> str:
        """Where inside the target: ``customers.address``, ``address.street``."""
        if self.system is not None:
            return f"{self.table}.{self.column}"
        return (self.column if self.product is not None else self.field) or ""

    def render(self) -> str:
        """One line a person reads: ``System crm customers.address``."""
        kind, name = self.target
        return f"{kind}/{name} {self.place}"


class Term(Model):
    """A business term; its owner is the Glossary's unless it names one."""

    name: str = Field(min_length=1, max_length=200, description="the term as people say it")
    definition: str = Field(min_length=1, description="what the term means, in a sentence")
    owner: Name | None = Field(default=None, description="the Team; default: the Glossary's")
    synonyms: list[str] = Field(default_factory=list, description="other names people use")
    classification: Classification | None = None
    pii: bool = Field(default=False, description="values of this term are personal data")
    related: list[str] = Field(default_factory=list, description="names of related terms")
    mappings: list[TermMapping] = Field(default_factory=list)

    @property
    def slug(self) -> str:
        """The term's name as an identifier: ``customer-address``."""
        return slug(self.name)

    @model_validator(mode="after")
    def _named(self) -> Term:
        if not self.slug:
            raise ValueError("a term's name has a letter or a digit")
        return self


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class GlossarySpec(Model):
    terms: list[Term] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> GlossarySpec:
        slugs = [t.slug for t in self.terms]
        twice = sorted({t.name for t in self.terms if slugs.count(t.slug) > 1})
        if twice:
            raise ValueError(f"term listed twice: {', '.join(twice)}")
        return self


class Glossary(EstateObject):
    """Business terms: what each means, who owns it, and where its data is held."""

    KIND = "Glossary"
    kind: Literal["Glossary"]
    spec: GlossarySpec


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word
