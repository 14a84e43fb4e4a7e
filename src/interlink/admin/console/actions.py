"""What the console's buttons do: each a form POST with the session's CSRF token, checked
before anything else, then the permission of the admin endpoint it stands for, then that
endpoint's own function, which writes the same audit entry the API writes."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from interlink.admin import alerts, flows, operations
from interlink.admin.audited import audited_route
from interlink.admin.auth import Grant
from interlink.admin.console.access import require
from interlink.admin.console.session import BASE, Signed, Viewer, checked_form, refused_form
from interlink.admin.owners import dead_letters, silenced
from interlink.admin.params import Id
from interlink.errors import BadRequest

router = APIRouter(include_in_schema=False)
RunPath = Annotated[str, Path(max_length=100)]


def _one_dead_letter(fields: dict[str, str]) -> operations.DeadLetterAction:
    try:
        return operations.DeadLetterAction(ids=[fields.get("id", "")])
    except ValidationError:
        raise BadRequest("the form does not name a dead letter by its id") from None


def _back(done: str, body: operations.DeadLetterAction) -> Response:
    query = urlencode({"done": done, "id": body.ids[0]})
    return RedirectResponse(f"{BASE}/subscriptions?{query}", status_code=303)


async def _act(
    request: Request, viewer: Viewer, action: str
) -> tuple[operations.DeadLetterAction, Grant]:
    """The dead letter the form names and the grant to act on it, once the CSRF token and then
    the permission pass."""
    fields = await checked_form(request, viewer)
    body = _one_dead_letter(fields)
    estate = request.app.state.runtime.snapshot.estate
    return body, await require(request, viewer, action, dead_letters(estate, None, body.ids))


@router.post("/dlq/retry", openapi_extra=audited_route("dlq.retry"))
async def retry(request: Request, viewer: Signed) -> Response:
    body, who = await _act(request, viewer, "dlq.retry")
    await operations.retry(request, who, body)
    return _back("retried", body)


@router.post("/dlq/discard", openapi_extra=audited_route("dlq.discard"))
async def discard(request: Request, viewer: Signed) -> Response:
    body, who = await _act(request, viewer, "dlq.discard")
    await operations.discard(request, who, body)
    return _back("discarded", body)


async def _run_action(request: Request, viewer: Viewer, action: str) -> Grant:
    """The grant to act on run ``run_id`` (its Flow's owner, found from the path as the API
    finds it), once the CSRF token passed."""
    await checked_form(request, viewer)
    return await require(request, viewer, action, None)


def _to_run(run_id: str, done: str) -> Response:
    return RedirectResponse(f"{BASE}/runs/{quote(run_id)}?done={done}", status_code=303)


@router.post("/runs/{run_id}/retry", openapi_extra=audited_route("flow.retry"))
async def retry_run(request: Request, viewer: Signed, run_id: RunPath) -> Response:
    who = await _run_action(request, viewer, "runs.retry")
    await flows.retry(request, run_id, who)
    return _to_run(run_id, "retried")


@router.post("/runs/{run_id}/cancel", openapi_extra=audited_route("flow.cancel"))
async def cancel_run(request: Request, viewer: Signed, run_id: RunPath) -> Response:
    who = await _run_action(request, viewer, "runs.cancel")
    await flows.cancel(request, run_id, who)
    return _to_run(run_id, "cancelled")


def _new_silence(fields: dict[str, str]) -> alerts.NewSilence:
    """The silence the form asks for, as the API's body: an empty field is one not given."""
    given = {k: fields[k].strip() for k in ("monitor", "target", "for", "reason") if k in fields}
    try:
        return alerts.NewSilence.model_validate({k: v for k, v in given.items() if v})
    except ValidationError as exc:
        raise refused_form(exc, "the silence was not added") from None


@router.post("/silences", openapi_extra=audited_route("alert.silence"))
async def add_silence(request: Request, viewer: Signed) -> Response:
    fields = await checked_form(request, viewer)
    body = _new_silence(fields)
    estate = request.app.state.runtime.snapshot.estate
    held = silenced(estate, body.monitor, body.target)
    who = await require(request, viewer, "silences.add", held)
    made = await alerts.add_silence(who, request, body)
    return RedirectResponse(f"{BASE}/monitors?done=silenced&silence={made['id']}", status_code=303)


@router.post("/silences/{silence_id}/lift", openapi_extra=audited_route("alert.unsilence"))
async def lift_silence(
    request: Request, viewer: Signed, silence_id: Annotated[Id, Path()]
) -> Response:
    await checked_form(request, viewer)
    who = await require(request, viewer, "silences.lift", None)  # the silence's owner, as the API
    await alerts.lift_silence(who, request, silence_id)
    return RedirectResponse(f"{BASE}/monitors?done=lifted&silence={silence_id}", status_code=303)
