"""Policy: an organisation's own governance rules, checked by `interlink check` beside the
built-in ones.

A rule picks the objects of one kind (and, with ``when``, only some of them) and states what
each must satisfy (``require``), both as JSONata over the object as written, with the estate's
defaults filled in. One Policy holds many rules, so an organisation's rulebook is one or a few
files with its owner said once.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from interlink.estate.findings import Severity
from interlink.estate.kinds.base import EstateObject, Model

_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,47}$")
_BINDING = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Names a rule's expressions already have bound; a Policy's values may not shadow them.
RESERVED = frozenset({"estate", "owner", "key", "name"})


class PolicyRule(Model):
    """One rule: every object of ``kind`` for which ``when`` holds must satisfy ``require``."""

    code: str = Field(
        description="a stable code CI can filter on, in capitals (PII_IN_EEA); reported as "
        "POLICY_<code>"
    )
    description: str = Field(min_length=1, description="what the rule asks, in one line")
    severity: Severity = Field(default="error", description="error fails check; warning not")
    kind: str = Field(description="the kind of object the rule applies to (Route, Api, …)")
    when: str | None = Field(
        default=None,
        description="JSONata over the object: the rule applies only where this is true; "
        "unset: to every object of the kind",
    )
    require: str = Field(
        description="JSONata over the object that must be true; $estate.KIND.NAME is any other "
        "object, $owner the owning Team's name, $key the object's Kind/name, and each of the "
        "Policy's values is bound by its name"
    )
    message: str | None = Field(
        default=None,
        description="what is wrong, after the object's Kind/name; default: the description",
    )
    at: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$",
        description="where in the object a finding points, as a dotted path (spec.auth); "
        "default: the object's kind line",
    )

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not _CODE.match(value):
            raise ValueError(f"code {value!r} is not in capitals, digits and _ (PII_IN_EEA)")
        return value


class PolicySpec(Model):
    rules: list[PolicyRule] = Field(min_length=1, description="the rules, checked in order")
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="named values the rules' expressions read as $NAME (a list of countries, "
        "of approved systems…), written once for every rule",
    )

    @model_validator(mode="after")
    def _distinct(self) -> PolicySpec:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.code in seen:
                raise ValueError(f"rule code {rule.code} is used twice")
            seen.add(rule.code)
        for name in self.values:
            if not _BINDING.match(name):
                raise ValueError(f"value name {name!r} is not an identifier")
            if name in RESERVED:
                raise ValueError(f"value name {name!r} is reserved: ${name} is already bound")
        return self


class Policy(EstateObject):
    KIND = "Policy"
    kind: Literal["Policy"]
    spec: PolicySpec
