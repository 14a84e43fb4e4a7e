"""Api and Event: the contracts systems expose and publish."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from interlink.errors import ContractError
from interlink.estate.durations import Duration
from interlink.estate.kinds.base import (
    Classification,
    DataSubject,
    EstateObject,
    Lifecycle,
    Model,
    Name,
    PiiCategory,
    RelativePath,
    Versioned,
)


class ApiSpec(Versioned):
    system: Name = Field(description="the System that exposes this API")
    contract: RelativePath = Field(description="OpenAPI 3.0/3.1 file, relative to this file")
    version: int = Field(default=1, ge=1, description="the major version")


class Api(EstateObject):
    KIND = "Api"
    kind: Literal["Api"]
    spec: ApiSpec


class Direction(StrEnum):
    """Who reads whose data in one comparison of an old and a new schema."""

    #: Readers using the new schema read data written with the old one.
    BACKWARD = "backward"
    #: Readers still using the old schema read data written with the new one.
    FORWARD = "forward"

    @classmethod
    def parse(cls, value: Direction | str) -> Direction:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ContractError(f"unknown direction '{value}' (use backward or forward)") from None


class CompatibilityMode(StrEnum):
    """Which earlier versions a new schema must stay compatible with, and which way.

    BACKWARD: readers using the new schema can read data written with the latest version.
    FORWARD: readers using the latest version can read data written with the new schema.
    FULL: both. The ``_TRANSITIVE`` variants check every earlier version, not only the latest.
    NONE: no check.
    """

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @classmethod
    def parse(cls, value: CompatibilityMode | str) -> CompatibilityMode:
        try:
            return cls(str(value).upper())
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise ContractError(
                f"unknown compatibility mode '{value}' (use one of {known})"
            ) from None

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def directions(self) -> tuple[Direction, ...]:
        base = self.value.removesuffix("_TRANSITIVE")
        if base == "BACKWARD":
            return (Direction.BACKWARD,)
        if base == "FORWARD":
            return (Direction.FORWARD,)
        if base == "FULL":
            return (Direction.BACKWARD, Direction.FORWARD)
        return ()


class SchemaVersion(Model):
    version: int = Field(ge=1)
    file: RelativePath = Field(description="JSON Schema 2020-12 file, relative to this file")
    lifecycle: Lifecycle = Lifecycle.ACTIVE


class EventClassification(Model):
    level: Classification = Classification.INTERNAL
    pii: list[str] = Field(
        default_factory=list,
        description="dotted paths of personal-data fields in the payload (e.g. address.street)",
    )
    pii_categories: list[PiiCategory] = Field(
        default_factory=list,
        description="the categories of personal data the event carries (contact, identity, "
        "financial…), for the record of processing",
    )
    purposes: list[str] = Field(
        default_factory=list,
        description="why the data is processed (order fulfilment, billing…), for the record "
        "of processing; default: the publishing System's purposes",
    )


class EventSpec(Versioned):
    system: Name = Field(description="the System that publishes this event")
    schemas: list[SchemaVersion] = Field(min_length=1)
    compatibility: CompatibilityMode = CompatibilityMode.BACKWARD
    ordering_key: str | None = Field(
        default=None, description="dotted path of the payload field events are ordered by"
    )
    classification: EventClassification = Field(default_factory=EventClassification)
    subject: DataSubject | None = Field(
        default=None,
        description="whose data each event carries: its hops (published, delivered, "
        "transformed, written) are recorded under this subject's key",
    )
    dedup_window: Duration | None = Field(
        default=None, description="repeated source+id inside this window is accepted once"
    )

    @model_validator(mode="after")
    def _versions(self) -> EventSpec:
        numbers = [s.version for s in self.schemas]
        if numbers != sorted(set(numbers)):
            raise ValueError("schema versions must be listed once each, in increasing order")
        return self


class Event(EstateObject):
    KIND = "Event"
    kind: Literal["Event"]
    spec: EventSpec
