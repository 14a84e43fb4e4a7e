"""Checking a CloudEvent against the estate's schema registry, and turning it into an Envelope.

:meth:`EventRegistry.from_estate` compiles one ``jsonschema-rs`` validator per schema version of
every Event, up front: well under a millisecond per schema, paid once per snapshot rather than
by the first event of each type. References resolve the way ``interlink check`` reads them, and
never over the network (an absolute reference to anything else stops the registry):

- ``#/$defs/x`` inside the schema, and relative files (``common.json#/$defs/x``) beside it,
  even when the schema's ``$id`` is an ``https:`` URI (the part of the reference below that
  ``$id``'s folder names a file in the schema's folder);
- another estate schema by its absolute ``$id``.

Formats (``date-time``, ``email``, …) are asserted: the compatibility rules treat ``format`` as
a constraint, so validation does too.

Which schema version applies (:meth:`EventRegistry.schema_for`):

- ``dataschema`` equal to a version's ``$id`` picks that version;
- else a ``dataschema`` ending in ``/v<n>`` or ``#v<n>``, or holding ``?version=<n>``, picks
  version ``n`` (only the number is read);
- no ``dataschema`` picks the latest active version.

A retired version is refused even when named; draft and deprecated versions are accepted when
named. The ordering key is the Event's ``orderingKey``, a dotted path into the data
(``customer.id``; a number picks a list item); a string is used as it is, other values as their
compact JSON, and a missing or null value gives no key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import jsonschema_rs

from interlink.contracts.loader import load_document
from interlink.errors import (
    ContractError,
    InvalidEventData,
    PayloadTooLarge,
    UnknownEventType,
    Violation,
)
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds.base import Lifecycle
from interlink.estate.kinds.contracts import Event
from interlink.estate.model import Estate
from interlink.events.bus import Envelope
from interlink.events.cloudevents import MAX_VIOLATIONS, CloudEvent, pointer

#: Most schema files the references of one estate may pull in beyond its own.
MAX_REFERENCED_FILES: Final = 500
MAX_MESSAGE: Final = 200

_VERSION_SUFFIX = re.compile(r"[/#]v([0-9]{1,9})\Z")
_VERSION_QUERY = re.compile(r"[?&]version=([0-9]{1,9})(?:[&#]|\Z)")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


@dataclass(frozen=True)
class SchemaVersion:
    """One compiled schema version of an event type."""

    version: int
    lifecycle: Lifecycle
    file: Path
    schema_id: str | None
    validator: Any  # jsonschema_rs.Validator


@dataclass(frozen=True)
class EventType:
    """What the registry knows of one Event: its versions, default version and ordering key."""

    name: str
    lifecycle: Lifecycle
    versions: Mapping[int, SchemaVersion]
    ordering_key: tuple[str, ...] | None

    @property
    def default(self) -> SchemaVersion | None:
        """The latest active version, used when an event names none."""
        active = [v for v in self.versions.values() if v.lifecycle is Lifecycle.ACTIVE]
        return max(active, key=lambda v: v.version) if active else None


class EventRegistry:
    """Every Event of one estate, ready to check events against; immutable once built."""

    def __init__(self, types: Mapping[str, EventType], *, max_payload_bytes: int) -> None:
        self._types = dict(types)
        self._defaults = {name: t.default for name, t in self._types.items()}
        self._by_id = {
            (name, v.schema_id): v
            for name, t in self._types.items()
            for v in t.versions.values()
            if v.schema_id is not None
        }
        self.max_payload_bytes = max_payload_bytes

    @classmethod
    def from_estate(cls, estate: Estate, *, max_payload_bytes: int | None = None) -> EventRegistry:
        """Compile every Event's schemas; raise ``ContractError`` naming any that will not.

        ``max_payload_bytes`` defaults to the Platform's ``events.maxPayloadBytes``.
        """
        files = _SchemaFiles(estate)
        types: dict[str, EventType] = {}
        for item in estate.loaded_of("Event"):
            event = item.obj
            assert isinstance(event, Event)
            versions: dict[int, SchemaVersion] = {}
            for spec in event.spec.schemas:
                path = item.resolve_file(spec.file)
                label = f"Event {event.name} version {spec.version} ({spec.file})"
                schema = files.schema(path, label)
                validator = files.compile(schema, path, label)
                versions[spec.version] = SchemaVersion(
                    spec.version, spec.lifecycle, path, _schema_id(schema), validator
                )
            key = event.spec.ordering_key
            types[event.name] = EventType(
                event.name, event.spec.lifecycle, versions, tuple(key.split(".")) if key else None
            )
        if max_payload_bytes is None:
            max_payload_bytes = estate.platform.spec.events.max_payload_bytes
        return cls(types, max_payload_bytes=max_payload_bytes)

    @property
    def types(self) -> Mapping[str, EventType]:
        return self._types

    def check(self, event: CloudEvent, traceparent: str | None = None) -> Envelope:
        """Validate ``event`` against its type's schema and return the Envelope to append, its
        body carrying ``traceparent`` unless the event has its own (events/tracing.py).

        Raises ``UnknownEventType``, ``PayloadTooLarge`` or ``InvalidEventData`` (with every
        violation, pointing into the event: ``/data/address/city``, ``/dataschema``).
        """
        etype = self._type(event.type)
        try:
            body = event.to_structured(traceparent)
        except (ValueError, TypeError) as exc:  # only an event built in code gets here
            raise _invalid("/data", f"cannot be written as JSON: {exc}") from None
        if len(body) > self.max_payload_bytes:
            raise PayloadTooLarge(
                f"the event is {len(body)} bytes; at most {self.max_payload_bytes} are accepted"
            )
        schema = self._select(etype, event.dataschema)
        if not event.has_data:
            raise _invalid("/data", f"{etype.name} events carry data; this one has none")
        if not event.has_json_data:
            raise _invalid(
                "/datacontenttype",
                f"event schemas describe JSON data; {event.datacontenttype} is not JSON",
            )
        validator = schema.validator
        if not validator.is_valid(event.data):
            errors = islice(validator.iter_errors(event.data), MAX_VIOLATIONS)
            raise InvalidEventData(
                [
                    Violation(pointer("data", *e.instance_path), describe_violation(e))
                    for e in errors
                ]
            )
        key = _key(event.data, etype.ordering_key) if etype.ordering_key else None
        return Envelope(type=event.type, id=event.id, source=event.source, key=key, body=body)

    def schema_for(self, event: CloudEvent) -> SchemaVersion:
        """The schema version ``event`` is checked against (see the module docstring)."""
        return self._select(self._type(event.type), event.dataschema)

    def event_type(self, name: str) -> EventType:
        """The Event named ``name``; ``UnknownEventType`` (with a hint) when there is none."""
        return self._type(name)

    def _type(self, name: str) -> EventType:
        etype = self._types.get(name)
        if etype is None:
            hint = did_you_mean(name, self._types)
            raise UnknownEventType(
                f"no Event named {name[:100]!r} in the estate" + (f"; {hint}" if hint else "")
            )
        if etype.lifecycle is Lifecycle.RETIRED:
            raise UnknownEventType(f"event type {name} is retired and accepts no events")
        return etype

    def _select(self, etype: EventType, named: str | None) -> SchemaVersion:
        default = self._defaults[etype.name]
        if named is None:
            if default is None:
                raise _invalid(
                    "/dataschema",
                    f"{etype.name} has no active schema version; name one in dataschema",
                )
            return default
        found = self._by_id.get((etype.name, named.removesuffix("#")))
        if found is None:
            match = _VERSION_SUFFIX.search(named) or _VERSION_QUERY.search(named)
            if match is None:
                raise _invalid(
                    "/dataschema",
                    f"does not name a schema version of {etype.name}: use a version's $id, or "
                    "end it in /v<n> or #v<n>, or add ?version=<n>",
                )
            number = int(match.group(1))
            found = etype.versions.get(number)
            if found is None:
                known = ", ".join(str(n) for n in etype.versions)
                raise _invalid(
                    "/dataschema", f"{etype.name} has no schema version {number} (it has {known})"
                )
        if found.lifecycle is Lifecycle.RETIRED:
            instead = f"; use version {default.version}" if default is not None else ""
            raise _invalid(
                "/dataschema", f"schema version {found.version} of {etype.name} is retired{instead}"
            )
        return found


def _invalid(at: str, message: str) -> InvalidEventData:
    return InvalidEventData([Violation(at, message)])


# --- compiling -------------------------------------------------------------------------------


class _SchemaFiles:
    """The estate's schema files, and the retriever ``jsonschema-rs`` resolves references with."""

    def __init__(self, estate: Estate) -> None:
        self._docs: dict[Path, Any] = {
            path: contract.data
            for path, contract in estate.contracts.items()
            if contract.kind == "jsonschema"
        }
        self._extra = 0
        self._by_id: dict[str, Any] = {}
        # (folder of an https $id, folder of its file): relative references below such an $id
        # name files beside the schema, as `interlink check` reads them.
        self._folders: list[tuple[str, Path]] = []
        for path, data in sorted(self._docs.items()):
            self._register(path, data)

    def _register(self, path: Path, data: Any) -> None:
        sid = _schema_id(data)
        if sid is not None:
            self._by_id.setdefault(sid, data)
            folder = sid.rpartition("/")[0] + "/"
            if (folder, path.parent) not in self._folders:
                self._folders.append((folder, path.parent))

    def schema(self, path: Path, label: str) -> Any:
        resolved = path.resolve()
        found = self._docs.get(resolved, _MISSING)
        if found is not _MISSING:
            return found
        if self._extra >= MAX_REFERENCED_FILES:
            raise ContractError(f"{label}: more than {MAX_REFERENCED_FILES} schema files")
        self._extra += 1
        try:
            data = load_document(resolved)
        except ContractError as exc:
            raise ContractError(f"{label}: {exc}") from None
        self._docs[resolved] = data
        self._register(resolved, data)
        return data

    def compile(self, schema: Any, path: Path, label: str) -> Any:
        try:
            return jsonschema_rs.validator_for(
                schema,
                validate_formats=True,
                retriever=self._retrieve,
                base_uri=path.resolve().as_uri(),
            )
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            message = str(getattr(exc, "message", exc)).split("\n", 1)[0]
            raise ContractError(f"{label}: cannot compile the schema: {message}") from None

    def _retrieve(self, uri: str) -> Any:
        uri = uri.partition("#")[0]
        found = self._by_id.get(uri)
        if found is not None:
            return found
        label = f"$ref {uri}"
        if uri.startswith("file:"):
            return self.schema(Path(url2pathname(urlsplit(uri).path)), label)
        for folder, directory in self._folders:
            if uri.startswith(folder):
                candidate = directory / unquote(uri[len(folder) :])
                if _is_file(candidate):
                    return self.schema(candidate, label)
        raise ContractError(
            f"{uri} is neither an estate schema nor a file beside one; remote schemas are not "
            "fetched"
        )


_MISSING = object()


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, or holding a NUL byte, names no file
        return False


def _schema_id(schema: Any) -> str | None:
    """A schema's absolute ``$id`` without an empty fragment, if it has one."""
    sid = schema.get("$id") if isinstance(schema, dict) else None
    if isinstance(sid, str) and _SCHEME.match(sid):
        return sid.removesuffix("#")
    return None


# --- results ---------------------------------------------------------------------------------


def _key(data: Any, path: tuple[str, ...]) -> str | None:
    node = data
    for step in path:
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
    if node is None:
        return None
    if isinstance(node, str):
        return node
    return json.dumps(node, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def describe_violation(error: Any) -> str:
    """A message about one violation that names the rule, never the offending value."""
    kind = error.kind
    name = type(kind).__name__
    try:
        details = kind.as_dict()
    except (AttributeError, ValueError, TypeError):
        details = {}
    builder = _MESSAGES.get(name)
    message = builder(details) if builder is not None else f"fails '{kind.name}'"
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _names(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in _iter(values))


def _iter(values: Any) -> Iterator[Any]:
    return iter(values) if isinstance(values, list | tuple) else iter([values])


_MESSAGES: dict[str, Any] = {
    "Type": lambda d: "must be of type " + " or ".join(_iter(d.get("types", []))),
    "Required": lambda d: f"missing required property '{d.get('property')}'",
    "Pattern": lambda d: f"must match the pattern {d.get('pattern')}",
    "Format": lambda d: f"must be a valid {d.get('format')}",
    "MaxLength": lambda d: f"must be at most {d.get('limit')} characters long",
    "MinLength": lambda d: f"must be at least {d.get('limit')} characters long",
    "Maximum": lambda d: f"must be at most {d.get('limit')}",
    "Minimum": lambda d: f"must be at least {d.get('limit')}",
    "ExclusiveMaximum": lambda d: f"must be less than {d.get('limit')}",
    "ExclusiveMinimum": lambda d: f"must be greater than {d.get('limit')}",
    "MultipleOf": lambda d: f"must be a multiple of {d.get('multiple_of')}",
    "MaxItems": lambda d: f"must have at most {d.get('limit')} items",
    "MinItems": lambda d: f"must have at least {d.get('limit')} items",
    "MaxProperties": lambda d: f"must have at most {d.get('limit')} properties",
    "MinProperties": lambda d: f"must have at least {d.get('limit')} properties",
    "UniqueItems": lambda d: "must not hold the same item twice",
    "Enum": lambda d: "must be one of " + ", ".join(_json(v) for v in _iter(d.get("options"))),
    "Constant": lambda d: f"must be {_json(d.get('expected_value'))}",
    "AdditionalProperties": lambda d: (
        f"has properties the schema does not allow: {_names(d.get('unexpected', []))}"
    ),
    "UnevaluatedProperties": lambda d: (
        f"has properties the schema does not allow: {_names(d.get('unexpected', []))}"
    ),
    "AdditionalItems": lambda d: f"must have at most {d.get('limit')} items",
    "UnevaluatedItems": lambda d: "has items the schema does not allow",
    "Contains": lambda d: "has no item that matches 'contains'",
    "AnyOf": lambda d: "matches none of the 'anyOf' alternatives",
    "OneOfNotValid": lambda d: "matches none of the 'oneOf' alternatives",
    "OneOfMultipleValid": lambda d: "matches more than one of the 'oneOf' alternatives",
    "Not": lambda d: "matches a schema it must not match ('not')",
    "FalseSchema": lambda d: "is not allowed here",
    "PropertyNames": lambda d: "has a property name the schema does not allow",
    "BacktrackLimitExceeded": lambda d: "is too costly to match against its pattern",
}
