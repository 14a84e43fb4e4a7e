"""The parts of one OpenAPI operation: parameters, request body and responses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlink.contracts import _pointer
from interlink.errors import ContractError

if TYPE_CHECKING:
    from interlink.contracts.openapi_diff import OpenApiDiffer, OperationPair, Part


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    location: str
    part: Part

    @property
    def required(self) -> bool:
        return self.location == "path" or self.part.value.get("required") is True

    @property
    def label(self) -> str:
        return f"{self.location} parameter '{self.name}'"


def _parameters(
    differ: OpenApiDiffer, item: Part, op: Part, renames: dict[str, str] | None
) -> dict[tuple[str, str], _Parameter]:
    """Effective parameters by (location, name): operation-level ones override path-level."""
    found: dict[tuple[str, str], _Parameter] = {}
    for owner in (item, op):
        listed = owner.value.get("parameters", [])
        where = _pointer.join(owner.pointer, "parameters")
        if not isinstance(listed, list):
            raise ContractError(
                f"invalid OpenAPI document {owner.doc.label} at {where}: expected a list"
            )
        for index, raw in enumerate(listed):
            part = differ.check_object(differ.part(raw, owner.doc, _pointer.join(where, index)))
            name, location = part.value.get("name"), part.value.get("in")
            if not isinstance(name, str) or not isinstance(location, str):
                raise ContractError(
                    f"invalid OpenAPI document {owner.doc.label} at {part.pointer}: a parameter "
                    "needs string 'name' and 'in'"
                )
            key = name.lower() if location == "header" else name
            if renames is not None and location == "path":
                key = renames.get(name, name)  # compare under the new template's name
            found[(location, key)] = _Parameter(name, location, part)
    return found


def _schema_of(differ: OpenApiDiffer, holder: Part) -> Part | None:
    """The schema of a parameter or header: ``schema`` or the one media type in ``content``."""
    value = holder.value
    if "schema" in value:
        return differ.part(value["schema"], holder.doc, _pointer.join(holder.pointer, "schema"))
    content = value.get("content")
    if isinstance(content, Mapping) and content:
        media, entry = next(iter(content.items()))
        if isinstance(entry, Mapping) and "schema" in entry:
            where = _pointer.join(holder.pointer, "content", media, "schema")
            return differ.part(entry["schema"], holder.doc, where)
    return None


def diff_parameters(differ: OpenApiDiffer, op: OperationPair) -> None:
    olds = _parameters(differ, op.old_item, op.old, op.renames)
    news = _parameters(differ, op.new_item, op.new, None)
    for key, old in olds.items():
        new = news.get(key)
        if new is None:
            message = f"{op.label}: {old.label} was removed: clients that send it may be rejected"
            differ.add("PARAMETER_REMOVED", old.part.pointer, message, True)
            continue
        _parameter(differ, op, old, new)
    for key, new in news.items():
        if key in olds:
            continue
        if new.required:
            message = (
                f"{op.label}: {new.label} was added as required: existing clients do not send "
                "it and will be rejected"
            )
            differ.add("REQUIRED_PARAMETER_ADDED", new.part.pointer, message, True)
        else:
            message = f"{op.label}: optional {new.label} was added"
            differ.add("PARAMETER_ADDED", new.part.pointer, message, False)


def _parameter(differ: OpenApiDiffer, op: OperationPair, old: _Parameter, new: _Parameter) -> None:
    where = new.part.pointer
    if new.required and not old.required:
        message = f"{op.label}: {new.label} became required: clients that omit it will be rejected"
        differ.add("PARAMETER_BECAME_REQUIRED", where, message, True)
    elif old.required and not new.required:
        message = f"{op.label}: {new.label} became optional"
        differ.add("PARAMETER_BECAME_OPTIONAL", where, message, False)
    if new.part.value.get("deprecated") is True and old.part.value.get("deprecated") is not True:
        differ.add(
            "PARAMETER_DEPRECATED", where, f"{op.label}: {new.label} is now deprecated", False
        )
    for field in ("style", "explode", "allowReserved"):
        before, after = old.part.value.get(field), new.part.value.get(field)
        if before != after:
            message = (
                f"{op.label}: {new.label} changed '{field}' from {before} to {after}: clients "
                "serialising it the old way may be misread"
            )
            differ.add("PARAMETER_SERIALIZATION_CHANGED", where, message, True)
    old_schema, new_schema = _schema_of(differ, old.part), _schema_of(differ, new.part)
    if old_schema is not None and new_schema is not None:
        differ.schemas(differ.requests, old_schema, new_schema, f"{new.label} of {op.label}")


def _content(differ: OpenApiDiffer, holder: Part) -> dict[str, tuple[str, Any]]:
    """Media types by normalised name: ``application/json; charset=utf-8`` is JSON."""
    content = differ.mapping(holder, "content")
    return {media.split(";")[0].strip().lower(): (media, entry) for media, entry in content.items()}


def _media_schema(differ: OpenApiDiffer, holder: Part, media: str, entry: Any) -> Part:
    where = _pointer.join(holder.pointer, "content", media, "schema")
    schema = entry.get("schema", True) if isinstance(entry, Mapping) else True
    return differ.part(schema, holder.doc, where)


def diff_request_body(differ: OpenApiDiffer, op: OperationPair) -> None:
    old_raw, new_raw = op.old.value.get("requestBody"), op.new.value.get("requestBody")
    if old_raw is None and new_raw is None:
        return
    old_where = _pointer.join(op.old.pointer, "requestBody")
    new_where = _pointer.join(op.new.pointer, "requestBody")
    if old_raw is None:
        new = differ.check_object(differ.part(new_raw, op.new.doc, new_where))
        if new.value.get("required") is True:
            message = (
                f"{op.label}: a required request body was added: existing clients do not send "
                "one and will be rejected"
            )
            differ.add("REQUIRED_REQUEST_BODY_ADDED", new_where, message, True)
        else:
            differ.add(
                "REQUEST_BODY_ADDED",
                new_where,
                f"{op.label}: an optional request body was added",
                False,
            )
        return
    if new_raw is None:
        message = f"{op.label}: the request body was removed: clients that send one may be rejected"
        differ.add("REQUEST_BODY_REMOVED", old_where, message, True)
        return
    old = differ.check_object(differ.part(old_raw, op.old.doc, old_where))
    new = differ.check_object(differ.part(new_raw, op.new.doc, new_where))
    old_required, new_required = (
        old.value.get("required") is True,
        new.value.get("required") is True,
    )
    if new_required and not old_required:
        message = (
            f"{op.label}: the request body became required: clients that omit it will be rejected"
        )
        differ.add("REQUEST_BODY_BECAME_REQUIRED", new_where, message, True)
    elif old_required and not new_required:
        differ.add(
            "REQUEST_BODY_BECAME_OPTIONAL",
            new_where,
            f"{op.label}: the request body became optional",
            False,
        )
    old_media, new_media = _content(differ, old), _content(differ, new)
    for key, (media, entry) in old_media.items():
        if key not in new_media:
            where = _pointer.join(old_where, "content", media)
            message = (
                f"{op.label}: request content type {media} is no longer accepted: clients "
                "sending it will be rejected"
            )
            differ.add("REQUEST_CONTENT_TYPE_REMOVED", where, message, True)
            continue
        new_name, new_entry = new_media[key]
        differ.schemas(
            differ.requests,
            _media_schema(differ, old, media, entry),
            _media_schema(differ, new, new_name, new_entry),
            f"the request body of {op.label}",
        )
    for key, (media, _) in new_media.items():
        if key not in old_media:
            where = _pointer.join(new_where, "content", media)
            differ.add(
                "REQUEST_CONTENT_TYPE_ADDED",
                where,
                f"{op.label}: request content type {media} is now accepted",
                False,
            )


def _breaks_when_removed(status: str) -> bool:
    """Clients rely on success responses; an error response that no longer occurs harms none."""
    return status.startswith("2") or status == "default"


def _statuses(responses: dict[str, Any]) -> dict[str, Any]:
    """Responses by status, without extensions; ``2xx`` and ``2XX`` are one range."""
    return {
        (key.upper() if key.lower().endswith("xx") else key): value
        for key, value in responses.items()
        if not key.startswith("x-")
    }


def diff_responses(differ: OpenApiDiffer, op: OperationPair) -> None:
    old_responses = _statuses(differ.mapping(op.old, "responses"))
    new_responses = _statuses(differ.mapping(op.new, "responses"))
    old_where = _pointer.join(op.old.pointer, "responses")
    new_where = _pointer.join(op.new.pointer, "responses")
    for status, old_raw in old_responses.items():
        if status not in new_responses:
            where = _pointer.join(old_where, status)
            breaking = _breaks_when_removed(status)
            consequence = ": clients expecting it will fail" if breaking else ""
            message = f"{op.label}: response {status} was removed{consequence}"
            differ.add("RESPONSE_STATUS_REMOVED", where, message, breaking)
            continue
        old = differ.check_object(
            differ.part(old_raw, op.old.doc, _pointer.join(old_where, status))
        )
        new = differ.check_object(
            differ.part(new_responses[status], op.new.doc, _pointer.join(new_where, status))
        )
        _response(differ, op, status, old, new)
    for status in new_responses:
        if status not in old_responses:
            where = _pointer.join(new_where, status)
            differ.add(
                "RESPONSE_STATUS_ADDED", where, f"{op.label}: response {status} was added", False
            )


def _response(differ: OpenApiDiffer, op: OperationPair, status: str, old: Part, new: Part) -> None:
    label = f"the {status} response of {op.label}"
    old_media, new_media = _content(differ, old), _content(differ, new)
    for key, (media, entry) in old_media.items():
        if key not in new_media:
            where = _pointer.join(old.pointer, "content", media)
            message = (
                f"{op.label}: response {status} no longer offers {media}: clients asking for "
                "it will fail"
            )
            differ.add("RESPONSE_CONTENT_TYPE_REMOVED", where, message, True)
            continue
        new_name, new_entry = new_media[key]
        shown = label if len(new_media) == 1 else f"the {status} {media} response of {op.label}"
        differ.schemas(
            differ.responses,
            _media_schema(differ, old, media, entry),
            _media_schema(differ, new, new_name, new_entry),
            shown,
        )
    for key, (media, _) in new_media.items():
        if key not in old_media:
            where = _pointer.join(new.pointer, "content", media)
            differ.add(
                "RESPONSE_CONTENT_TYPE_ADDED",
                where,
                f"{op.label}: response {status} now also offers {media}",
                False,
            )
    _headers(differ, op, status, old, new)


def _headers(differ: OpenApiDiffer, op: OperationPair, status: str, old: Part, new: Part) -> None:
    old_headers = {k.lower(): (k, v) for k, v in differ.mapping(old, "headers").items()}
    new_headers = {k.lower(): (k, v) for k, v in differ.mapping(new, "headers").items()}
    for key, (name, raw) in old_headers.items():
        if key not in new_headers:
            where = _pointer.join(old.pointer, "headers", name)
            message = (
                f"{op.label}: response {status} no longer sends header {name}: clients "
                "reading it will miss it"
            )
            differ.add("RESPONSE_HEADER_REMOVED", where, message, True)
            continue
        new_name, new_raw = new_headers[key]
        before = differ.part(raw, old.doc, _pointer.join(old.pointer, "headers", name))
        after = differ.part(new_raw, new.doc, _pointer.join(new.pointer, "headers", new_name))
        old_schema, new_schema = _schema_of(differ, before), _schema_of(differ, after)
        if old_schema is not None and new_schema is not None:
            label = f"header {new_name} of the {status} response of {op.label}"
            differ.schemas(differ.responses, old_schema, new_schema, label)
    for key, (name, _) in new_headers.items():
        if key not in old_headers:
            where = _pointer.join(new.pointer, "headers", name)
            differ.add(
                "RESPONSE_HEADER_ADDED",
                where,
                f"{op.label}: response {status} now sends header {name}",
                False,
            )
