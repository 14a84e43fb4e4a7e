"""Event publishing in a gateway worker process: handed to the event mesh of `interlink serve`.

With ``--workers N`` the event mesh (bus, registry, ingress, delivery queue) runs only in the
`interlink serve` process, since the embedded log has a single writer. That process serves its
ingress on a private Unix socket (:mod:`interlink.gateway.workers.ingress_socket`), and each worker
reaches it through an :class:`EventLink`:

- ``/events…`` requests are forwarded as they came: the credentials, the body (streamed), the
  request id, the client appended to ``X-Forwarded-For``. The answer is relayed unchanged, so
  authentication, validation, deduplication, 202 only once durable, 503 while the log is down
  and the body limits are exactly what one worker gives.
- A REST-to-event route runs its policies in the worker and hands its body over as the data
  of one event (:meth:`EventLink.publish_data`, the same call as on the ingress itself).

When the socket does not answer (the main process is restarting or stopping), the worker
answers 503 problem+json with ``Retry-After``. A request that got that far may have been
stored; sent again with the same ``source`` and ``id`` it is stored once.
"""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import quote

from interlink.errors import UpstreamError
from interlink.events.ingress import Reply
from interlink.gateway.forwarding import upstream_headers
from interlink.gateway.proxy import relay
from interlink.gateway.request import Request
from interlink.gateway.responder import Responder
from interlink.http.client import HttpClient
from interlink.http.headers import HOP_BY_HOP, Headers
from interlink.http.origin import Origin
from interlink.http.streams import BodyError, BodyStream
from interlink.problems import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from interlink.problems import problem_bytes

log = logging.getLogger("interlink.gateway")

#: Where the main process takes a REST-to-event route's data; reachable on its socket only.
PUBLISH_PATH: Final = "/_interlink/publish"
#: What :meth:`EventLink.publish_data` is told, percent-encoded, one header each.
META_PREFIX: Final = b"interlink-"
#: Seconds a client is told to wait when the ingress does not answer.
RETRY_AFTER: Final = 1
UNAVAILABLE: Final = "the event ingress is not answering; send the request again shortly"
UNAVAILABLE_TITLE: Final = "Event ingress unavailable"

# The main process's socket answers every connection; Host only has to be well-formed.
ORIGIN: Final = Origin("http", "interlink", 80)
_DROP_FROM_REPLY = HOP_BY_HOP | {b"content-length", b"date", b"x-request-id"}


class EventLink:
    """A gateway worker's way to the event ingress, over pooled connections to its socket."""

    def __init__(
        self, path: str, *, connect_timeout: float = 2.0, read_timeout: float = 60.0
    ) -> None:
        self.path = path
        self.client = HttpClient(
            unix_socket=path, connect_timeout=connect_timeout, read_timeout=read_timeout
        )

    async def forward(self, request: Request, conn: Responder) -> None:
        """Serve ``/events…``: the request goes to the ingress, its answer back unchanged."""
        target = request.path.encode("latin-1")
        if request.query:
            target += b"?" + request.query
        body = request.body
        payload: bytes | BodyStream | None = None
        if body is not None:
            payload = body.take() if body.complete else body
        try:
            response = await self.client.send(
                ORIGIN,
                request.method_bytes,
                target,
                upstream_headers(request),
                payload,
                request.content_length if payload is body else None,
            )
        except BodyError as exc:  # the client's body failed: too large, stalled, cut short
            conn.send_problem(request, exc.status, exc.message, title=exc.title)
            return
        except UpstreamError as exc:
            self._unreachable(exc, request.method, request.path, request.request_id)
            conn.send_problem(
                request,
                503,
                UNAVAILABLE,
                title=UNAVAILABLE_TITLE,
                headers=[(b"retry-after", b"%d" % RETRY_AFTER)],
            )
            return
        await relay(request, conn, response, "the event ingress")

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
        """:meth:`EventIngress.publish_data <interlink.events.ingress.EventIngress.publish_data>`
        done by the main process's ingress, with the same reply."""
        meta = {
            "event-type": event_type,
            "event-id": id,
            "event-source": source,
            "request-id": request_id,
            "data-pointer": data_pointer,
        }
        if time is not None:
            meta["event-time"] = time
        if traceparent is not None:
            meta["traceparent"] = traceparent
        headers: Headers = [(b"content-type", b"application/json")]
        headers += [
            (META_PREFIX + name.encode("ascii"), quote(value, safe="").encode("ascii"))
            for name, value in meta.items()
        ]
        if request_id.isascii() and request_id.isprintable() and request_id:
            headers.append((b"x-request-id", request_id.encode("ascii")))  # for the logs
        try:
            response = await self.client.send(
                ORIGIN, b"POST", PUBLISH_PATH.encode("ascii"), headers, data
            )
            async with response:
                body = await response.read()
        except UpstreamError as exc:
            self._unreachable(exc, "POST", f"event {event_type}", request_id or id)
            problem = problem_bytes(
                503, UNAVAILABLE, title=UNAVAILABLE_TITLE, instance=request_id or id
            )
            return Reply(
                503,
                (("content-type", PROBLEM_CONTENT_TYPE), ("retry-after", str(RETRY_AFTER))),
                problem,
            )
        kept = tuple(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in response.headers
            if name.lower() not in _DROP_FROM_REPLY
        )
        return Reply(response.status, kept, body)

    def _unreachable(self, exc: UpstreamError, method: str, what: str, request_id: str) -> None:
        log.warning(
            "%s %s: event ingress at %s: %s (request %s)",
            method,
            what,
            self.path,
            exc.message,
            request_id,
        )

    async def aclose(self) -> None:
        await self.client.aclose()


__all__ = ["PUBLISH_PATH", "EventLink"]
