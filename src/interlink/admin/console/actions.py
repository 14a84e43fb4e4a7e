"""What the console's buttons do: each a form POST with the session's CSRF token, checked
before anything else, then the permission of the admin endpoint it stands for, then that
endpoint's own function, which writes the same audit entry the API writes."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from interlink.admin import operations
from interlink.admin.audited import audited_route
from interlink.admin.auth import Grant
from interlink.admin.console.access import require
from interlink.admin.console.session import BASE, Signed, Viewer, checked_form
from interlink.admin.owners import dead_letters
from interlink.errors import BadRequest

router = APIRouter(include_in_schema=False)


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
