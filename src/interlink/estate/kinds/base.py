"""What every estate object shares: the envelope, metadata and common field types."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from interlink.estate.references import has_reference, is_reference

API_VERSION = "interlink/v1"
NAME_PATTERN = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"


class Model(BaseModel):
    """Base of every estate model: camelCase in YAML, unknown fields rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lower-case name: a-z 0-9 . -")]


def _secret_reference(value: str) -> str:
    if not is_reference(value):
        raise ValueError(
            "must be a reference like ${secret:NAME} or ${env:NAME}, never the secret itself"
        )
    return value


SecretRef = Annotated[
    str,
    AfterValidator(_secret_reference),
    Field(
        description="a reference: ${secret:NAME} or ${env:NAME}",
        examples=["${secret:name}"],
        json_schema_extra={"writeOnly": True},  # a secret: the estate holds only its reference
    ),
]


def _url(value: str) -> str:
    if has_reference(value):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    if parts.password:
        raise ValueError("a URL must not carry a password; use a ${secret:NAME} reference")
    return value


HttpUrl = Annotated[str, AfterValidator(_url), Field(description="http(s) URL or a reference")]


def _relative_path(value: str) -> str:
    if not value or value.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", value) or "\0" in value:
        raise ValueError("expected a path relative to the file that names it")
    return value


RelativePath = Annotated[str, AfterValidator(_relative_path)]


class Lifecycle(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class Classification(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"


class Versioned(Model):
    """Lifecycle fields shared by Api and Event: deprecated ⇒ sunset date and successor."""

    lifecycle: Lifecycle = Lifecycle.ACTIVE
    sunset: date | None = Field(default=None, description="the day this version stops answering")
    successor: str | None = Field(default=None, description="the object that replaces this one")


class Metadata(Model):
    name: Name
    title: str | None = None
    description: str = ""
    owner: Name | None = Field(default=None, description="the Team that owns this object")
    labels: dict[str, str] = Field(default_factory=dict)


class EstateObject(Model):
    """The envelope every object has: apiVersion, kind, metadata, spec."""

    KIND: ClassVar[str] = ""

    api_version: str = Field(alias="apiVersion", pattern=r"^interlink/v1$")
    metadata: Metadata
    spec: Any

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def key(self) -> str:
        return f"{self.KIND}/{self.metadata.name}"


#: A PII category, such as contact, identity, financial, health or location (lower case).
PiiCategory = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]


class DataSubject(Model):
    """Whose data an Event or DataProduct carries: every hop of it is recorded by this key."""

    type: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,62}$",
        description="the kind of data subject, such as customer or employee; "
        "`interlink lineage trace TYPE KEY` asks by it",
    )
    key: str = Field(
        min_length=1,
        max_length=1000,
        description="where the subject's key is in the event: a dotted path (data.customerId) "
        "or a JSONata expression over the CloudEvent (id, source, subject, data…)",
    )
