"""`/events` on the gateway port: the event ingress, ahead of the estate's routes.

The body is read whole (the server has already bounded it by ``gateway.maxBodyBytes``, 413
beyond) because an event request is validated and appended as one unit.
"""

from __future__ import annotations

from interlink.events.ingress import EventIngress
from interlink.gateway.request import Request
from interlink.gateway.responder import Responder
from interlink.http.streams import BodyError


async def serve_events(request: Request, conn: Responder, ingress: EventIngress) -> None:
    body = b""
    if request.body is not None:
        if request.body.complete:
            body = request.body.take()
        else:
            chunks = []
            try:
                async for chunk in request.body:
                    chunks.append(chunk)
            except BodyError as exc:
                conn.send_problem(request, exc.status, exc.message, title=exc.title)
                return
            body = b"".join(chunks)
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    reply = await ingress.handle(request.method, request.path, headers, body, request.request_id)
    # Logged and counted per publisher and Event (estate names only, so the series stay bounded).
    request.consumer = reply.consumer
    if reply.event_type is not None:
        request.route = f"events/{reply.event_type}"
    out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    out.append((b"x-request-id", request.request_id.encode("ascii")))
    conn.respond(request, reply.status, out, reply.body)
