"""The estate's events as one AsyncAPI 3.0.0 document.

Each Event is a channel whose address is the event type. Each schema version is a message of its
own (``customer.address-updated.v2``) whose payload is the version's JSON Schema 2020-12, kept
whole under ``components.schemas`` as a multi-format schema. The publishing System has a
``send`` operation and each Subscription a ``receive`` operation. Everything is defined once
under ``components`` or ``channels`` and pointed at with ``$ref``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from interlink.contracts.export_sources import (
    EventSchema,
    embed_schema,
    escape_pointer,
    event_schemas,
    gateway_host,
    latest_active,
)
from interlink.estate.kinds import Event, Platform, Subscription, Team
from interlink.estate.kinds.base import Lifecycle
from interlink.estate.model import Estate, Loaded

ASYNCAPI_VERSION = "3.0.0"
#: AsyncAPI 3 names draft-07 formats only; other JSON Schema drafts use the same media type.
SCHEMA_FORMAT = "application/schema+json;version=2020-12"
HEADERS = "CloudEventsHeaders"
_GOING = (Lifecycle.DEPRECATED, Lifecycle.RETIRED)

# The CloudEvents 1.0 context attributes, as HTTP binary-mode headers.
CLOUDEVENTS_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 context attributes, as ce-* headers in HTTP binary mode "
    "(or as top-level members in structured mode, application/cloudevents+json).",
    "required": ["ce-specversion", "ce-id", "ce-source", "ce-type"],
    "properties": {
        "ce-specversion": {"type": "string", "const": "1.0"},
        "ce-id": {
            "type": "string",
            "minLength": 1,
            "description": "Unique per source; a repeated source and id is accepted once.",
        },
        "ce-source": {"type": "string", "minLength": 1, "description": "URI-reference"},
        "ce-type": {"type": "string", "description": "The event type: the channel address."},
        "ce-time": {"type": "string", "format": "date-time"},
        "ce-subject": {"type": "string"},
        "ce-dataschema": {"type": "string", "format": "uri"},
    },
}


def message_id(event: str, version: int) -> str:
    return f"{event}.v{version}"


def send_operation_id(event: str) -> str:
    # Estate names never hold '_', so this cannot clash with a Subscription's name.
    return f"send_{event}"


def asyncapi_document(
    estate: Estate, *, version: str = "1.0.0", events: Iterable[str] | None = None
) -> dict[str, Any]:
    """The AsyncAPI document of the estate's events (only those named in ``events``, if given).

    ``version`` becomes ``info.version``; the CLI passes a short content hash of the estate.
    """
    wanted = set(events) if events is not None else None
    items = [
        item
        for item in sorted(estate.loaded_of("Event"), key=lambda i: i.obj.name)
        if wanted is None or item.obj.name in wanted
    ]
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    schemas: dict[str, Any] = {HEADERS: CLOUDEVENTS_HEADERS}
    messages: dict[str, Any] = {}
    owners: set[str] = set()
    for item in items:
        event = item.obj
        assert isinstance(event, Event)
        versions = event_schemas(estate, item)
        owner = estate.owner_of(event)
        if owner:
            owners.add(owner)
        for entry in versions:
            key = message_id(event.name, entry.version.version)
            schemas[key] = {
                "schemaFormat": SCHEMA_FORMAT,
                "schema": embed_schema(
                    entry.schema, f"/components/schemas/{escape_pointer(key)}/schema"
                ),
            }
            messages[key] = _message(event, entry, key, owner)
        channels[event.name] = _channel(event, versions, owner)
        live = [_channel_message_ref(event.name, m) for m in channels[event.name]["messages"]]
        operations[send_operation_id(event.name)] = _send(event, live, owner)
        for sub_item in _subscriptions_of(estate, event.name):
            sub = sub_item.obj
            assert isinstance(sub, Subscription)
            operations[sub.name] = _receive(estate, sub, live)
            sub_owner = _subscription_owner(estate, sub)
            if sub_owner:
                owners.add(sub_owner)
    doc: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(estate, version, items if wanted is not None else None, owners),
        "defaultContentType": "application/json",
        "servers": _servers(estate.platform),
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
    return doc


def _info(
    estate: Estate, version: str, chosen: list[Loaded] | None, owners: set[str]
) -> dict[str, Any]:
    declared = estate.of(Platform)
    platform = declared[0] if declared else None
    if chosen is not None and len(chosen) == 1:  # one chosen event (a catalog entry)
        event = chosen[0].obj
        title = event.metadata.title or event.name
        description = event.metadata.description
    elif platform is not None:
        title = platform.metadata.title or platform.name
        description = platform.metadata.description
    else:
        title, description = estate.root.name, ""
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    teams = {team.name: team for team in estate.of(Team)}
    tags = []
    for name in sorted(owners):
        tag: dict[str, Any] = {"name": name}
        team = teams.get(name)
        if team is not None and team.metadata.description:
            tag["description"] = team.metadata.description
        tags.append(tag)
    if tags:
        info["tags"] = tags
    owner = estate.owner_of(chosen[0].obj) if chosen is not None and len(chosen) == 1 else None
    if owner is None and platform is not None:
        owner = platform.metadata.owner
    if owner:
        info["x-owner"] = owner
    return info


def _servers(platform: Platform) -> dict[str, Any]:
    servers: dict[str, Any] = {
        "gateway": {
            "host": gateway_host(platform),
            "protocol": "http",
            "pathname": "/events",
            "title": "Interlink gateway",
            "description": "CloudEvents ingestion: POST /events/{type}, with the event type "
            "(the channel address) as the last path segment.",
        }
    }
    events = platform.spec.events
    if events.backend == "nats" and events.url:
        parts = urlsplit(events.url)
        servers["nats"] = {
            "host": parts.netloc or events.url,
            "protocol": "nats",
            "title": "Event backend",
            "description": f"NATS JetStream: one stream per event type, prefixed "
            f"'{events.stream_prefix}'.",
        }
    return servers


def _tags(owner: str | None) -> list[dict[str, str]]:
    return [{"name": owner}] if owner else []


def _owned(node: dict[str, Any], owner: str | None) -> dict[str, Any]:
    if owner:
        node["tags"] = _tags(owner)
        node["x-owner"] = owner
    return node


def _message(event: Event, entry: EventSchema, key: str, owner: str | None) -> dict[str, Any]:
    number = entry.version.version
    message: dict[str, Any] = {
        "name": event.name,
        "title": f"{event.name} v{number}",
        "contentType": "application/json",
        "headers": {
            "allOf": [
                {"$ref": f"#/components/schemas/{HEADERS}"},
                {"type": "object", "properties": {"ce-type": {"const": event.name}}},
            ]
        },
        "payload": {"$ref": f"#/components/schemas/{escape_pointer(key)}"},
    }
    if event.metadata.description:
        message["summary"] = event.metadata.description
    if entry.version.lifecycle in _GOING or event.spec.lifecycle in _GOING:
        message["deprecated"] = True
    _owned(message, owner)
    message["x-schema-version"] = number
    message["x-lifecycle"] = entry.version.lifecycle.value
    return message


def _channel(event: Event, versions: list[EventSchema], owner: str | None) -> dict[str, Any]:
    # Retired versions are no longer published: they stay in components only.
    live = [v for v in versions if v.version.lifecycle != Lifecycle.RETIRED]
    channel: dict[str, Any] = {"address": event.name}
    if event.metadata.title:
        channel["title"] = event.metadata.title
    if event.metadata.description:
        channel["description"] = event.metadata.description
    channel["messages"] = {
        message_id(event.name, v.version.version): {
            "$ref": "#/components/messages/"
            + escape_pointer(message_id(event.name, v.version.version))
        }
        for v in live
    }
    _owned(channel, owner)
    spec = event.spec
    channel["x-latest-version"] = latest_active(versions).version.version
    channel["x-lifecycle"] = spec.lifecycle.value
    if spec.sunset:
        channel["x-sunset"] = spec.sunset.isoformat()
    if spec.successor:
        channel["x-successor"] = spec.successor
    channel["x-compatibility"] = spec.compatibility.value
    channel["x-classification"] = spec.classification.level.value
    if spec.classification.pii:
        channel["x-pii"] = list(spec.classification.pii)
    if spec.ordering_key:
        channel["x-ordering-key"] = spec.ordering_key
    return channel


def _channel_message_ref(channel: str, message: str) -> dict[str, str]:
    return {"$ref": f"#/channels/{escape_pointer(channel)}/messages/{escape_pointer(message)}"}


def _channel_ref(channel: str) -> dict[str, str]:
    return {"$ref": f"#/channels/{escape_pointer(channel)}"}


def _send(event: Event, live: list[dict[str, str]], owner: str | None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": "send",
        "channel": _channel_ref(event.name),
        "messages": live,
        "title": f"{event.spec.system} publishes {event.name}",
        "summary": f"System {event.spec.system} publishes {event.name}.",
    }
    _owned(operation, owner)
    operation["x-system"] = event.spec.system
    return operation


def _subscriptions_of(estate: Estate, event: str) -> list[Loaded]:
    found = [
        item
        for item in estate.loaded_of("Subscription")
        if isinstance(item.obj, Subscription) and item.obj.spec.event == event
    ]
    return sorted(found, key=lambda i: i.obj.name)


def _subscription_owner(estate: Estate, sub: Subscription) -> str | None:
    if sub.metadata.owner:
        return sub.metadata.owner
    if sub.spec.target.system:
        found = estate.get("System", sub.spec.target.system)
        if found is not None:
            return found.obj.metadata.owner
    return None


def _receive(estate: Estate, sub: Subscription, live: list[dict[str, str]]) -> dict[str, Any]:
    target = sub.spec.target
    if target.system:
        where = f"delivered by webhook to System {target.system} at {target.path}"
        receiver = {"system": target.system, "path": target.path}
    elif target.flow:
        where = f"starts Flow {target.flow}"
        receiver = {"flow": target.flow}
    else:
        where = f"handled in process by {target.handler}"
        receiver = {"handler": str(target.handler)}
    operation: dict[str, Any] = {
        "action": "receive",
        "channel": _channel_ref(sub.spec.event),
        "messages": live,
        "title": sub.metadata.title or sub.name,
        "summary": f"{sub.spec.event}, {where}.",
    }
    if sub.metadata.description:
        operation["description"] = sub.metadata.description
    _owned(operation, _subscription_owner(estate, sub))
    operation["x-target"] = receiver
    operation["x-ordered"] = sub.spec.ordered
    if sub.spec.filter.attributes:
        operation["x-filter"] = dict(sub.spec.filter.attributes)
    return operation
