"""Event ingestion over HTTP: `POST /events/{type}` and `POST /events`, whatever the server.

The gateway's HTTP server hands a request here with its body read (bounded by the server's
limit) and writes back the :class:`Reply`. Every event of a request is parsed, authorised and
validated before any of it is appended, so a request is accepted whole or not at all; 202 is
sent only once the bus says the events are durable.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from interlink.errors import (
    InterlinkError,
    InvalidEventData,
    MalformedEvent,
    PayloadTooLarge,
    UnknownEventType,
    Violation,
)
from interlink.events.bus import Appended, Bus, Envelope
from interlink.events.cloudevents import CloudEvent, _json_data, parse_http
from interlink.events.publish_auth import PublishAuth
from interlink.events.validation import EventRegistry
from interlink.observe import signals, tracing
from interlink.observe.lineage import LineageRecorder
from interlink.observe.links import LinkCounts
from interlink.problems import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from interlink.problems import problem_bytes

log = logging.getLogger("interlink.events.ingress")

PREFIX: Final = "/events"
#: The CloudEvents ``source`` of events flows publish.
FLOW_SOURCE: Final = "/interlink/flows"
_JSON: Final = "application/json"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # Who published what, as far as it was learnt (also on a refusal): for logs and metrics.
    consumer: str | None = None  # the Consumer a key belongs to (None for an admin token)
    event_type: str | None = None  # the one Event of the estate the request is about


@dataclass
class _Seen:
    consumer: str | None = None
    event_type: str | None = None


def _reply(status: int, document: Any, content_type: str = _JSON, **headers: str) -> Reply:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    pairs = (
        ("content-type", content_type),
        *((k.replace("_", "-"), v) for k, v in headers.items()),
    )
    return Reply(status, tuple(pairs), body)


def _problem(exc: InterlinkError, instance: str, **extra: Any) -> Reply:
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["www_authenticate"] = 'Bearer realm="interlink", ApiKey header="x-api-key"'
    if exc.retry_after is not None:
        headers["retry_after"] = str(max(1, round(exc.retry_after)))
    body = problem_bytes(exc.status, exc.message, title=exc.title, instance=instance, **extra)
    return _reply(exc.status, body, PROBLEM_CONTENT_TYPE, **headers)


class EventIngress:
    """Turns an HTTP request into appended events, or into one precise problem document."""

    def __init__(
        self,
        bus: Bus,
        registry: Callable[[], EventRegistry],
        auth: PublishAuth,
        *,
        max_batch: int = 1000,
        links: LinkCounts | None = None,
        lineage: LineageRecorder | None = None,
    ) -> None:
        self._bus = bus
        self._registry = registry
        self._auth = auth
        self._max_batch = max_batch
        self._links = links  # who published which Event: the observed connections
        self.lineage = lineage  # records who published the events that carry a subject

    @staticmethod
    def handles(path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    async def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, request_id: str = ""
    ) -> Reply:
        """``headers`` have lower-case names. ``request_id`` becomes the problems' instance."""
        instance = request_id or path
        if method != "POST":
            detail = f"{method} is not allowed on {path}; events are POSTed"
            body = problem_bytes(405, detail, instance=instance)
            return _reply(405, body, PROBLEM_CONTENT_TYPE, allow="POST")
        seen = _Seen()
        try:
            reply = await self._ingest(path, headers, body, seen)
        except (MalformedEvent, InvalidEventData) as exc:
            violations = [{"pointer": v.pointer, "message": v.message} for v in exc.violations]
            reply = _problem(exc, instance, violations=violations)
        except InterlinkError as exc:
            reply = _problem(exc, instance)
        if reply.status >= 300 and seen.event_type is not None and self._links is not None:
            publisher = _publisher(seen.consumer)
            self._links.add("publish", publisher, f"Event/{seen.event_type}", "events", failed=True)
        return dataclasses.replace(reply, consumer=seen.consumer, event_type=seen.event_type)

    async def publish_data(
        self,
        event_type: str,
        data: bytes,
        *,
        id: str,
        source: str,
        time: str | None = None,
        request_id: str = "",
        data_pointer: str = "/data",
        traceparent: str | None = None,
    ) -> Reply:
        """Publish JSON ``data`` (the bytes as received) as the data of one ``event_type`` event.

        For callers that authorised the publisher themselves (a gateway route with
        ``publish:``): the event is built here (no ``dataschema``, so the latest active schema
        version applies), validated and appended like any other, and the reply is the same
        202 document or problem. Violations inside the data point under ``data_pointer``
        instead of ``/data``. With tracing on, the publish span is a child of ``traceparent``
        (the route's request span), else of the current span.
        """
        instance = request_id or id
        try:
            violations: list[Violation] = []
            value = _json_data(data, "/data", violations)
            if violations:
                raise MalformedEvent(violations)
            event = CloudEvent(
                id=id,
                source=source,
                type=event_type,
                data=value,
                datacontenttype=_JSON,
                time=time,
            )
            registry = self._registry()
            traced = tracing.current()
            if traced is None:
                envelope = registry.check(event)
                (appended,) = await self._bus.publish([envelope])
            else:
                name = f"publish {event_type}"
                with traced.span(name, "producer", parent=traceparent) as span:
                    envelope = registry.check(event, span.traceparent)
                    (appended,) = await self._bus.publish([envelope])
            if self.lineage is not None and not appended.duplicate:
                _record(self.lineage, event, "", envelope.key)
            signals.published(() if appended.duplicate else (event_type,))
        except (MalformedEvent, InvalidEventData) as exc:
            self._count_route(source, event_type, failed=True)
            found = [
                {"pointer": _moved(v.pointer, data_pointer), "message": v.message}
                for v in exc.violations
            ]
            return _problem(exc, instance, violations=found)
        except InterlinkError as exc:
            self._count_route(source, event_type, failed=True)
            return _problem(exc, instance)
        self._count_route(source, event_type)
        document = {
            "accepted": 0 if appended.duplicate else 1,
            "duplicates": 1 if appended.duplicate else 0,
            "id": envelope.id,
            "type": envelope.type,
            "seq": appended.seq,
            "duplicate": appended.duplicate,
        }
        return _reply(202, document)

    async def _ingest(
        self, path: str, headers: Mapping[str, str], body: bytes, seen: _Seen
    ) -> Reply:
        path_type = path[len(PREFIX) + 1 :] if path.startswith(PREFIX + "/") else None
        if path_type is not None and (not path_type or "/" in path_type):
            raise UnknownEventType(f"no such endpoint: POST {path}; use /events/<type>")
        events = parse_http(headers, body, max_events=self._max_batch)
        batch = path_type is None and _is_batch(headers)
        if path_type is not None:
            for i, event in enumerate(events):
                if event.type != path_type:
                    at = f"/{i}/type" if len(events) > 1 else "/type"
                    raise MalformedEvent(
                        [
                            Violation(
                                at, f"type {event.type!r} differs from the path's {path_type!r}"
                            )
                        ]
                    )
        principal = await self._auth.authenticate(headers)
        kind, _, name = principal.name.partition(":")
        seen.consumer = name if kind == "consumer" else None
        registry = self._registry()
        if not batch:  # an unknown type is a 404 before it is a missing scope
            registry.event_type(events[0].type)
        types = {e.type for e in events}
        if len(types) == 1 and events[0].type in registry.types:  # never a name a caller made up
            seen.event_type = events[0].type
        self._auth.authorize(principal, (e.type for e in events if e.type in registry.types))
        traced = tracing.current()
        if traced is None:
            envelopes = self._check(registry, events, batch)
            appended = await self._bus.publish(envelopes)
        else:
            name = f"publish {seen.event_type or 'batch'}"
            parent = headers.get("traceparent")
            with traced.span(name, "producer", parent=parent) as span:
                span.set("messaging.batch.message_count", len(events))
                envelopes = self._check(registry, events, batch, span.traceparent)
                appended = await self._bus.publish(envelopes)
        self._observe(seen, envelopes, events, appended)
        results = [
            {"id": e.id, "type": e.type, "seq": a.seq, "duplicate": a.duplicate}
            for e, a in zip(envelopes, appended, strict=True)
        ]
        duplicates = sum(1 for a in appended if a.duplicate)
        log.debug("accepted %d event(s) from %s", len(results), principal.name)
        document: dict[str, Any] = {
            "accepted": len(results) - duplicates,
            "duplicates": duplicates,
            "events": results,
        }
        if not batch:
            document.update(results[0])
        return _reply(202, document)

    def _observe(
        self,
        seen: _Seen,
        envelopes: Sequence[Envelope],
        events: Sequence[CloudEvent],
        appended: Sequence[Appended],
    ) -> None:
        """Count who published each type (observed connections) and record the publish of
        the events that carry a subject (lineage), and what each type does (signals)."""
        signals.published(
            e.type for e, a in zip(envelopes, appended, strict=True) if not a.duplicate
        )
        if self._links is not None:
            publisher = _publisher(seen.consumer)
            for envelope in envelopes:
                self._links.add("publish", publisher, f"Event/{envelope.type}", "events")
        if self.lineage is not None:
            by = f"Consumer/{seen.consumer}" if seen.consumer else ""
            for event, envelope, one in zip(events, envelopes, appended, strict=True):
                if not one.duplicate:
                    _record(self.lineage, event, by, envelope.key)

    def _count_route(self, source: str, event_type: str, *, failed: bool = False) -> None:
        """Count an event a route published: ``source`` is its Consumer, or ``/routes/NAME``
        when none was authenticated. A flow's publish step is counted by its runner."""
        if self._links is None or source.startswith(FLOW_SOURCE):
            return
        publisher = f"Route/{source[8:]}" if source.startswith("/routes/") else f"Consumer/{source}"
        self._links.add("publish", publisher, f"Event/{event_type}", "route", failed=failed)

    @staticmethod
    def _check(
        registry: EventRegistry,
        events: Sequence[CloudEvent],
        batch: bool,
        traceparent: str | None = None,
    ) -> list[Envelope]:
        """Validate every event (each stored with ``traceparent`` unless it has its own); report
        every bad one at once, pointers prefixed by its index."""
        envelopes: list[Envelope] = []
        violations: list[Violation] = []
        unknown: UnknownEventType | None = None
        too_large: PayloadTooLarge | None = None
        for i, event in enumerate(events):
            prefix = f"/{i}" if batch else ""
            try:
                envelopes.append(registry.check(event, traceparent))
            except InvalidEventData as exc:
                violations.extend(Violation(prefix + v.pointer, v.message) for v in exc.violations)
            except UnknownEventType as exc:
                unknown = unknown or exc
                violations.append(Violation(f"{prefix}/type", exc.message))
            except PayloadTooLarge as exc:
                too_large = too_large or exc
                violations.append(Violation(prefix or "/", exc.message))
        if not violations:
            return envelopes
        if too_large is not None and not batch:
            raise too_large
        if unknown is not None and not batch:
            raise unknown
        raise InvalidEventData(violations)


def _publisher(consumer: str | None) -> str:
    """Who published, as an estate key; "" for an operator's admin token."""
    return f"Consumer/{consumer}" if consumer is not None else ""


def _record(lineage: LineageRecorder, event: CloudEvent, by: str, key: str | None) -> None:
    """Record who published ``event`` (its ordering ``key``) when its type carries a
    subject (else nothing)."""
    if event.type in lineage.subjects.by_event and not lineage.published_keyed(
        event.type, event.id, key, by
    ):
        view = {
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": event.time,
            "data": event.data,
        }
        lineage.published(event.type, view, by)


def _moved(at: str, prefix: str) -> str:
    """``at`` with a leading ``/data`` segment replaced by ``prefix``."""
    if at == "/data" or at.startswith("/data/"):
        return prefix + at[len("/data") :]
    return at


def _is_batch(headers: Mapping[str, str]) -> bool:
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/cloudevents-batch+json"


__all__ = ["EventIngress", "Reply"]
