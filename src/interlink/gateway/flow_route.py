"""A process API: a Route with ``flow: NAME`` starts a run of that Flow for each request.

After the route's policies (authentication, plans, validation, lifecycle) the JSON request body
is read whole (bounded by ``gateway.maxBodyBytes``) and becomes the run's input (trigger
``http``). The route waits up to its ``flowTimeout`` (5 s by default) for the run to end:

- ``completed``: 200, the run's final message as JSON;
- ``filtered``: 422 problem+json, a filter step refused the input;
- ``duplicate``: 409 problem+json, an idempotency step found the input's key already held;
- ``failed`` or ``compensated``: 502 problem+json with the run's error (a call it made failed;
  ``compensated`` means the completed calls were undone);
- still running (or waiting at a ``wait`` step) at the timeout: 202 ``{"run": <id>, "status":
  <url>}`` with ``Location`` at the admin API's ``/api/v1/flows/runs/<id>``; the run goes on in
  the background.

Every answer that names a run carries ``Interlink-Flow-Run: <id>``. A body that is not JSON is
400, one sent as another media type 415; a flow that cannot start is 503.

The route is served where the gateway has a flow engine (``GatewayServices.flows``): each
gateway worker process has its own (``workers/flows.py``); without one it is left out with the
reason.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

from interlink.errors import InterlinkError, InvalidFlowInput
from interlink.estate.kinds.flow import Flow
from interlink.estate.kinds.gateway import Route
from interlink.estate.model import Estate
from interlink.flows.definition import unsupported
from interlink.flows.payloads import PayloadTooLarge
from interlink.flows.runs import FlowRun, dump
from interlink.gateway.policy import Unsupported
from interlink.gateway.publish_route import Handler, is_json, read_body
from interlink.gateway.request import Request
from interlink.gateway.responder import Responder
from interlink.gateway.services import GatewayServices
from interlink.http.streams import BodyError

#: Where a run started over HTTP is followed: the admin API's run resource.
STATUS_PATH: Final = "/api/v1/flows/runs/{id}"
RUN_HEADER: Final = b"interlink-flow-run"
TRIGGER: Final = "http"


def started_flow(route: Route, estate: Estate) -> Flow:
    """The Flow ``route`` starts; raises Unsupported when it is missing or cannot run."""
    name = route.spec.flow
    assert name is not None
    found = estate.get("Flow", name)
    if found is None or not isinstance(found.obj, Flow):
        raise Unsupported(f"starts Flow/{name}, which does not exist")
    missing = unsupported(found.obj.spec)
    if missing:
        raise Unsupported(f"starts Flow/{name}, whose steps {', '.join(missing)} do not run yet")
    return found.obj


def compile_flow(route: Route, estate: Estate, services: GatewayServices) -> Handler:
    """The handler serving ``route``; raises Unsupported when it cannot be served here."""
    name = started_flow(route, estate).name
    engine = services.flows
    if engine is None:
        raise Unsupported(f"starts Flow/{name}, but this gateway process runs no flow engine")
    timeout = route.spec.flow_timeout
    running: set[asyncio.Task[FlowRun]] = set()  # runs that outlive their request

    async def start(request: Request, conn: Responder) -> None:
        if not is_json(_header(request, b"content-type")):
            conn.send_problem(
                request,
                415,
                f"the body of {request.method} {request.path} is the input of Flow/{name}: "
                "send it as application/json",
                headers=[(b"accept-post", b"application/json")],
            )
            return
        try:
            body = await read_body(request)
            data: Any = json.loads(body) if body else None
        except BodyError as exc:
            conn.send_problem(request, exc.status, exc.message, title=exc.title)
            return
        except ValueError as exc:
            conn.send_problem(request, 400, f"the body is not JSON: {exc}", title="Bad request")
            return
        try:
            run_id = await engine.start(name, data, TRIGGER)
        except InvalidFlowInput as exc:
            violations = [{"pointer": v.pointer, "message": v.message} for v in exc.violations]
            conn.send_problem(request, 422, exc.message, title=exc.title, violations=violations)
        except PayloadTooLarge as exc:
            conn.send_problem(request, 413, exc.message, title=exc.title)
            return
        except InterlinkError as exc:
            conn.send_problem(request, 503, exc.message, title="Flow not started")
            return
        task = asyncio.create_task(engine.run(run_id), name=f"flow run {run_id}")
        running.add(task)
        task.add_done_callback(running.discard)
        done, _ = await asyncio.wait({task}, timeout=timeout)
        run = task.result() if done else None
        answer(request, conn, name, run_id, run)

    return start


def answer(request: Request, conn: Responder, flow: str, run_id: str, run: FlowRun | None) -> None:
    """The answer for a run: its result, how it ended, or where to follow it."""
    headers = [(RUN_HEADER, run_id.encode("ascii"))]
    if run is None or run.status in ("running", "compensating", "waiting"):
        status_url = STATUS_PATH.format(id=run_id)
        body = dump({"run": run_id, "status": status_url}).encode()
        headers += [(b"content-type", b"application/json"), (b"location", status_url.encode())]
        conn.respond(request, 202, headers, body)
    elif run.status == "completed":
        body = dump(run.context.get("message")).encode()
        conn.respond(request, 200, [*headers, (b"content-type", b"application/json")], body)
    elif run.status == "filtered":
        detail = f"Flow/{flow} filtered the input out (run {run_id})"
        conn.send_problem(request, 422, detail, title="Input filtered", headers=headers, run=run_id)
    elif run.status == "duplicate":
        detail = f"Flow/{flow} handled this input already: run {run_id} found its key held"
        conn.send_problem(
            request, 409, detail, title="Duplicate input", headers=headers, run=run_id
        )
    else:
        detail = f"Flow/{flow} run {run_id} {run.status}: {run.error or 'no reason recorded'}"
        title = "Flow run failed"
        conn.send_problem(request, 502, detail, title=title, headers=headers, run=run_id)


def _header(request: Request, name: bytes) -> bytes | None:
    for key, value in request.headers:
        if key == name:
            return value
    return None
