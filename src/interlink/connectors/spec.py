"""What a connector declares about itself: one :class:`ConnectorSpec` per connector.

The spec drives everything outside the connector's code: `check` validates a System's
``connection`` against :attr:`ConnectorSpec.config` (a JSON Schema 2020-12), the CLI and
``docs/connectors.md`` show it, and a console can draw a form from it. A field whose schema says
``writeOnly: true`` is a secret: the estate may give it only as a ``${secret:NAME}`` (or
``${env:NAME}``) reference, and it is never shown resolved. A string field whose schema says
``x-secretInUrl: true`` is a URL that may carry a password (``amqp://user:password@host``): the
password may be given only as such a reference, and the URL is never shown resolved either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema_rs

from interlink.estate.hints import did_you_mean
from interlink.estate.references import is_reference

#: What a connector can do for a flow: start it (trigger), read from its System (read), write to
#: it (write), or look a record up by key (lookup).
CapabilityName = Literal["trigger", "read", "write", "lookup"]
CAPABILITIES: tuple[CapabilityName, ...] = ("trigger", "read", "write", "lookup")

#: How a flow talks to a System of this connector: ``sql`` through query and write steps,
#: ``http`` through call and enrich steps, ``messages`` (brokers, mail, chat) through send steps
#: and consume triggers, ``files`` (a directory, SFTP, a bucket) through file steps and watch
#: triggers, ``records`` (a Singer tap, an Airbyte source) through poll triggers on a stream.
Interface = Literal["sql", "http", "messages", "files", "records"]

#: A pointer into a System's connection, as the estate spells it, and what is wrong there.
Problem = tuple[tuple[str | int, ...], str]


@dataclass(frozen=True)
class Capability:
    """One capability and the options its steps take (a JSON Schema of them)."""

    name: CapabilityName
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def problems(self, given: Mapping[str, Any]) -> list[Problem]:
        """What is wrong in the options a trigger or step gives for this capability."""
        if not self.options:
            return []
        out: list[Problem] = []
        validator = jsonschema_rs.Draft202012Validator(dict(self.options))
        for error in validator.iter_errors(dict(given)):
            where = tuple(error.instance_path)
            unexpected = getattr(error.kind, "unexpected", None)
            if error.kind.name == "additionalProperties" and unexpected:
                known = list(_at(self.options, where).get("properties") or {})
                for name in unexpected:
                    hint = did_you_mean(str(name), known)
                    text = f"takes no option {name!r}" + (f" ({hint})" if hint else "")
                    out.append(((*where, name), text))
                continue
            out.append((where, _message(error, where, [], self.options)))
        return out


@dataclass(frozen=True)
class ConnectorSpec:
    """A connector as users see it: its name, what it is for, its config and capabilities."""

    name: str  # as a System's ``connector`` names it: lower-case, a-z 0-9 -
    title: str
    description: str  # one line
    interface: Interface
    config: Mapping[str, Any]  # JSON Schema 2020-12 of a System's ``connection``
    capabilities: tuple[Capability, ...]
    example: str  # a System in YAML that uses it

    def __post_init__(self) -> None:
        # A spec is code: a malformed one is the connector author's bug, said at once.
        if not self.name.replace("-", "").isalnum() or self.name.lower() != self.name:
            raise ValueError(f"connector name {self.name!r}: lower-case letters, digits and -")
        if "\n" in self.description.strip():
            raise ValueError(f"connector {self.name}: the description is one line")
        if self.config.get("type") != "object":
            raise ValueError(f"connector {self.name}: config is a JSON Schema of type object")
        try:
            jsonschema_rs.meta.validate(dict(self.config))
        except jsonschema_rs.ValidationError as exc:
            raise ValueError(f"connector {self.name}: config is not a JSON Schema: {exc}") from None
        for path, prop in _properties(self.config):
            if not isinstance(prop.get("description"), str) or not prop["description"]:
                raise ValueError(
                    f"connector {self.name}: field {'.'.join(path)} has no description"
                )
            if prop.get("writeOnly") is True and prop.get("type") != "string":
                raise ValueError(
                    f"connector {self.name}: secret field {'.'.join(path)} is a string"
                )
        for capability in self.capabilities:
            if capability.name not in CAPABILITIES:
                raise ValueError(f"connector {self.name}: unknown capability {capability.name!r}")

    @property
    def secret_fields(self) -> list[tuple[str, ...]]:
        """The paths of the config's ``writeOnly`` fields."""
        return [path for path, prop in _properties(self.config) if prop.get("writeOnly") is True]

    @property
    def url_fields(self) -> list[tuple[str, ...]]:
        """The paths of the config's URLs that may carry a password (``x-secretInUrl``)."""
        return [
            path for path, prop in _properties(self.config) if prop.get("x-secretInUrl") is True
        ]

    def capability(self, name: str) -> Capability | None:
        return next((c for c in self.capabilities if c.name == name), None)

    def problems(self, connection: Mapping[str, Any]) -> list[Problem]:
        """What is wrong in a System's ``connection`` for this connector; none when valid.

        A secret field given as plain text is a problem whatever the schema says of it: the
        estate never holds a secret."""
        out: list[Problem] = []
        for path in self.secret_fields:
            value = _get(connection, path)
            if isinstance(value, str) and not is_reference(value):
                out.append(
                    (
                        path,
                        "is a secret: give it as a ${secret:NAME} reference, never the value",
                    )
                )
        for path in self.url_fields:
            value = _get(connection, path)
            if isinstance(value, str) and _plain_password(value):
                out.append(
                    (
                        path,
                        "carries a password: give it as a ${secret:NAME} reference "
                        "(scheme://user:${secret:NAME}@host), never the value",
                    )
                )
        plain_secrets = [p for p, _ in out]
        validator = jsonschema_rs.Draft202012Validator(dict(self.config))
        for error in validator.iter_errors(dict(connection)):
            where = tuple(error.instance_path)
            if any(where[: len(p)] == p for p in plain_secrets):
                continue  # already said, without echoing the secret back
            unexpected = getattr(error.kind, "unexpected", None)
            if error.kind.name == "additionalProperties" and unexpected:
                known = list(_at(self.config, where).get("properties") or {})
                for name in unexpected:
                    hint = did_you_mean(str(name), known)
                    text = f"{self.name} takes no field {name!r}" + (f" ({hint})" if hint else "")
                    out.append(((*where, name), text))
                continue
            branches = _at(self.config, where).get("anyOf") or ()
            if error.kind.name == "anyOf" and all("required" in b for b in branches):
                # A choice of fields (a password or a key): said by name, the values not echoed.
                names = [" and ".join(b["required"]) for b in branches]
                out.append((where, f"needs one of: {', '.join(names)}"))
                continue
            out.append(
                (
                    where,
                    _message(error, where, [*self.secret_fields, *self.url_fields], self.config),
                )
            )
        return out

    def defaults(self, connection: Mapping[str, Any]) -> dict[str, Any]:
        """``connection`` with each top-level field it omits at its schema's default."""
        merged = dict(connection)
        for name, prop in self.config.get("properties", {}).items():
            if name not in merged and isinstance(prop, Mapping) and "default" in prop:
                merged[name] = prop["default"]
        return merged


def _plain_password(url: str) -> bool:
    """Whether ``url``'s user info holds a password that is not a reference."""
    _scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return False
    userinfo = rest.rpartition("@")[0]
    if ":" not in userinfo:
        return False
    password = userinfo.partition(":")[2]
    return bool(password) and not is_reference(password)


def _properties(
    schema: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, Mapping):
            yield (*prefix, name), prop
            if prop.get("type") == "object":
                yield from _properties(prop, (*prefix, name))


def _at(schema: Mapping[str, Any], path: tuple[Any, ...]) -> Mapping[str, Any]:
    """The schema of the value at ``path`` (properties, and an array's items by index)."""
    for part in path:
        if isinstance(part, int):
            schema = schema.get("items") or {}
        else:
            schema = (schema.get("properties") or {}).get(part) or {}
    return schema


def _get(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _message(
    error: jsonschema_rs.ValidationError,
    where: tuple[Any, ...],
    secrets: list[tuple[str, ...]],
    schema: Mapping[str, Any],
) -> str:
    if where and where in {tuple(s) for s in secrets}:
        return "is not a valid value for this secret field"  # the message would echo it
    if error.kind.name == "pattern":
        # The regular expression says little to a reader: the field's description says more.
        field = _at(schema, where)
        if isinstance(field.get("description"), str):
            return f"{json.dumps(error.instance)} is not valid here: {field['description']}"
    text = str(error.message)
    return text[:1].lower() + text[1:] if where else text
