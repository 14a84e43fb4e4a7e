"""The gateway's request handler: route, run the route's policies, proxy to the upstream."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from interlink.errors import UpstreamError
from interlink.gateway.balancing import choose_upstream
from interlink.gateway.config import CompiledRoute, GatewayConfig
from interlink.gateway.forwarding import client_headers, upstream_headers
from interlink.gateway.policy import Reply
from interlink.gateway.request import Request
from interlink.gateway.resilience.guard import REPLAY_BUFFER, Rejected, Sender
from interlink.gateway.responder import Responder
from interlink.gateway.rewrite import upstream_path
from interlink.gateway.routing import Matched, MethodNotAllowed
from interlink.gateway.upstream import UpstreamTarget
from interlink.http.client import HttpClient
from interlink.http.connection import Body, Response
from interlink.http.credential import Credential
from interlink.http.headers import Headers
from interlink.http.streams import BodyError, BodyStream
from interlink.http.token_source import TokenError

log = logging.getLogger("interlink.gateway")


async def handle(  # noqa: C901 - the request path, kept in one compiled function
    request: Request, conn: Responder, config: GatewayConfig, client: HttpClient
) -> None:
    if request.reject is not None:
        status, detail = request.reject
        conn.send_problem(request, status, detail)
        return
    found = config.router.match(request.host, request.path, request.method)
    if found is None:
        conn.send_problem(request, 404, f"no route matches {request.method} {request.path}")
        return
    if isinstance(found, MethodNotAllowed):
        conn.send_problem(
            request,
            405,
            f"{request.method} is not allowed on {request.path}",
            headers=[(b"allow", ", ".join(found.allow).encode("ascii"))],
        )
        return
    route = found.value
    request.route = route.name
    for policy in route.policies:
        reply = policy(request)
        if reply is not None:
            if not isinstance(reply, Reply):  # the policy had to wait (policy.py)
                reply = await reply
                if reply is None:
                    continue
            conn.send_problem(
                request,
                reply.status,
                reply.detail,
                title=reply.title,
                headers=reply.headers,
                **reply.extra,
            )
            return
    if route.handler is not None:  # a REST-to-event route: no upstream
        await route.handler(request, conn)
        return
    upstream = choose_upstream(route, request)
    request.system = upstream.system
    path = upstream_path(request.path, found.prefix, route.rewrite, found.params, upstream.base)
    target = path.encode("latin-1")
    if request.query:
        target += b"?" + request.query
    body = request.body
    payload: bytes | BodyStream | None = None
    if body is not None:
        payload = body.take() if body.complete else body
    if route.shadow is not None:  # a copy goes to the shadow upstream (shadow/)
        shadow_target = _shadow_target(found, route.shadow.target, request)
        try:
            payload = await route.shadow.follow(request, client, shadow_target, payload)
        except BodyError as failed:
            conn.send_problem(request, failed.status, failed.message, title=failed.title)
            return
    headers = upstream_headers(request)
    tracing = config.tracing
    if tracing is not None:  # the upstream's traceparent names the span of this call
        tracing.outgoing(request, headers)
    credential = upstream.credential
    if credential is not None and credential.source is None:
        # The System's own, in place of anything the client sent (oauth2: in with_token).
        headers = credential.headers(headers)
        target = credential.target(target)
    sent_at = conn.loop.time()
    length = request.content_length if payload is body else None
    try:
        if credential is None or credential.source is None:
            response = await resilient_send(
                client, route, upstream, request, target, headers, payload, length
            )
        else:
            response = await with_token(
                credential, client, route, upstream, request, target, headers, payload, length
            )
    except BodyError as failed:
        conn.send_problem(request, failed.status, failed.message, title=failed.title)
        return
    except UpstreamError as exc:
        # Refusals are counted in metrics, not logged; a token endpoint's failure is logged
        # by its source, once a streak.
        if not isinstance(exc, Rejected) and not isinstance(exc, TokenError):
            request.upstream_status = 0  # called, no usable answer
            request.upstream_seconds = conn.loop.time() - sent_at
            log.warning(
                "%s %s → %s: %s (request %s)",
                request.method,
                request.path,
                upstream.system,
                exc.message,
                request.request_id,
            )
        headers = []
        if exc.retry_after is not None:
            headers.append((b"retry-after", b"%d" % max(1, round(exc.retry_after))))
        conn.send_problem(
            request,
            exc.status,
            f"{upstream.system}: {exc.message}",
            headers=headers,
            system=upstream.system,
        )
        return
    request.upstream_status = response.status
    request.upstream_seconds = conn.loop.time() - sent_at
    try:
        await relay(request, conn, response, upstream.system)
    finally:
        finished(route, upstream)  # frees the bulkhead slot resilient_send took


async def relay(request: Request, conn: Responder, response: Response, system: str) -> None:
    """Stream the upstream's response to the client, at the pace the client reads it."""
    headers, length = client_headers(response.headers, request)
    body = response.body
    try:
        if body.complete:  # the usual small answer: one write
            head_length = length if request.method_bytes == b"HEAD" else None
            data = body.take()
            conn.respond(request, response.status, headers, data, length=head_length)
            if request.observers is not None:  # after the answer is out, off its path
                for observe in request.observers:
                    conn.loop.call_soon(observe, response.status, response.headers, data)
            return
        conn.start(request, response.status, headers, length)
        async for chunk in body:
            conn.write(chunk)
            if conn.write_paused:
                await conn.drain()
        conn.end()
    except UpstreamError as exc:
        # The head is out; the only way left to tell the client is to cut the connection.
        log.warning(
            "%s %s ← %s failed mid-response: %s (request %s)",
            request.method,
            request.path,
            system,
            exc.message,
            request.request_id,
        )
    finally:
        response.close()


def resilient_send(
    client: Sender,
    route: CompiledRoute,
    upstream: UpstreamTarget,
    request: Request,
    target: bytes,
    headers: Headers,
    body: Body,
    content_length: int | None,
) -> Awaitable[Response]:
    """Send ``request`` to ``upstream`` under the route's resilience (resilience/guard.py).
    Once the response is done with, call :func:`finished`. (A plain function handing back
    the coroutine that sends: one frame less on every request.)"""
    guard = route.resilience.get(upstream.system) if route.resilience else None
    if guard is None:
        return client.send(
            upstream.origin, request.method_bytes, target, headers, body, content_length,
            route.connect_timeout, route.read_timeout,
        )  # fmt: skip
    return guard.send(
        client, upstream, request.method_bytes, target, headers, body, content_length,
        route.connect_timeout, route.read_timeout,
    )  # fmt: skip


async def with_token(
    credential: Credential,
    client: Sender,
    route: CompiledRoute,
    upstream: UpstreamTarget,
    request: Request,
    target: bytes,
    headers: Headers,
    body: Body,
    content_length: int | None,
) -> Response:
    """:func:`resilient_send` with the System's oauth2 token (TokenError when none can be
    had). A 401 drops the token, and a request whose body can be sent again goes once more
    with a fresh one: none, or one of at most REPLAY_BUFFER bytes, read whole first."""
    used = await credential.current()
    if (
        isinstance(body, BodyStream)
        and content_length is not None
        and content_length <= REPLAY_BUFFER
    ):
        body, content_length = await body.read(), None
    response = await resilient_send(
        client, route, upstream, request, target, used.headers(headers), body, content_length
    )
    if response.status != 401 or isinstance(body, BodyStream):
        return response
    try:
        fresh = await credential.renewed(used)
    except BaseException:
        response.close()
        finished(route, upstream)
        raise
    if fresh is None:
        return response
    response.close()
    finished(route, upstream)
    return await resilient_send(
        client, route, upstream, request, target, fresh.headers(headers), body, content_length
    )


def finished(route: CompiledRoute, upstream: UpstreamTarget) -> None:
    """The response :func:`resilient_send` returned was relayed or given up: free its slot."""
    guard = route.resilience.get(upstream.system) if route.resilience else None
    if guard is not None:
        guard.finished()


def _shadow_target(
    found: Matched[CompiledRoute], shadow: UpstreamTarget, request: Request
) -> bytes:
    """The request target of ``request`` on the route's shadow upstream."""
    path = upstream_path(request.path, found.prefix, found.value.rewrite, found.params, shadow.base)
    target = path.encode("latin-1")
    target = target + b"?" + request.query if request.query else target
    return shadow.credential.target(target) if shadow.credential is not None else target
