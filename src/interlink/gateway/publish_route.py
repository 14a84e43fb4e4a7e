"""REST to event: a Route with ``publish: {event}`` turns its JSON request body into an event.

After the route's policies (authentication, plans, lifecycle) the body is read whole (bounded by
``gateway.maxBodyBytes``), and handed to the event mesh's ingress as the ``data`` of one
CloudEvent:

- ``id``: the request id (the client's ``X-Request-Id`` when it is a sane token, else a new
  one), so a client that retries with the same ``X-Request-Id`` publishes once;
- ``source``: the Consumer authentication named, else ``/routes/<route name>``;
- ``type``: the route's event; ``time``: now; no ``dataschema``, so the data is checked
  against the Event's latest active schema version.

The answer is the ingress's: 202 with ``id``, ``type``, ``seq`` and ``duplicate`` once the
event is durable; 422 with ``violations`` pointing into the request body (``/body/address/city``)
when it breaks the schema; 400 when the body is not JSON; 415 when its Content-Type is not.

The route is served where the gateway reaches the event mesh: in its own process, or, in a
gateway worker process, through the link to the main process's ingress (``workers/event_link.py``).
Compiled without either, it is left out with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Final

from interlink.estate.kinds.contracts import Event
from interlink.estate.kinds.gateway import Route
from interlink.estate.model import Estate
from interlink.gateway.policy import Unsupported
from interlink.gateway.request import Request
from interlink.gateway.responder import Responder
from interlink.gateway.services import GatewayServices
from interlink.http.streams import BodyError

# Answers a request in place of an upstream, once the route's policies let it through.
Handler = Callable[[Request, Responder], Awaitable[None]]

#: Where schema violations inside the request body point.
BODY_POINTER: Final = "/body"


def is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def rfc3339(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compile_publish(route: Route, estate: Estate, services: GatewayServices) -> Handler:
    """The handler serving ``route``; raises Unsupported when it cannot be served here."""
    assert route.spec.publish is not None
    event_type = route.spec.publish.event
    found = estate.get("Event", event_type)
    if found is None or not isinstance(found.obj, Event):
        raise Unsupported(f"publishes Event/{event_type}, which does not exist")
    ingress = services.events
    if ingress is None:
        raise Unsupported(
            f"publishes event {event_type}, but this gateway process reaches no event mesh"
        )
    fallback_source = f"/routes/{route.name}"
    clock = services.clock
    tracing = services.tracing

    async def publish(request: Request, conn: Responder) -> None:
        content_type = _header(request, b"content-type")
        if not is_json(content_type):
            conn.send_problem(
                request,
                415,
                f"the body of {request.method} {request.path} is published as {event_type} "
                "event data: send it as application/json",
                headers=[(b"accept-post", b"application/json")],
            )
            return
        try:
            body = await read_body(request)
        except BodyError as exc:
            conn.send_problem(request, exc.status, exc.message, title=exc.title)
            return
        reply = await ingress.publish_data(
            event_type,
            body,
            id=request.request_id,
            source=_consumer(request) or fallback_source,
            time=rfc3339(clock()),
            request_id=request.request_id,
            data_pointer=BODY_POINTER,
            # The publish continues the request's trace, under its gateway span.
            traceparent=tracing.context(request) if tracing is not None else None,
        )
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        out.append((b"x-request-id", request.request_id.encode("ascii")))
        conn.respond(request, reply.status, out, reply.body)

    return publish


def _consumer(request: Request) -> str | None:
    identity = request.identity
    return identity.consumer if identity is not None else request.consumer


def _header(request: Request, name: bytes) -> bytes | None:
    for key, value in request.headers:
        if key == name:
            return value
    return None


async def read_body(request: Request) -> bytes:
    """The request body, read whole (its stream already bounds its size)."""
    body = request.body
    if body is None:
        return b""
    if body.complete:
        return body.take()
    chunks = [chunk async for chunk in body]
    return b"".join(chunks)
