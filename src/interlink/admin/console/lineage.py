"""The console's lineage page: a data subject (type and key) searched for, and its trail as
the admin API's lineage endpoint answers it, the reads of a DataProduct's PII columns
included. A subject type nobody declares, an empty key or a bad ``since`` is said on the
page, beside the form, with the status the API gives it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from interlink.admin import lineage
from interlink.admin.console.access import require
from interlink.admin.console.render import html
from interlink.admin.console.session import Signed
from interlink.errors import InterlinkError
from interlink.observe.lineage.reads import READS
from interlink.observe.lineage.recorder import subject_types

router = APIRouter(include_in_schema=False)
Field = Annotated[str, Query(max_length=200)]


@router.get("/lineage")
async def lineage_page(
    request: Request, viewer: Signed, type: Field = "", key: Field = "", since: Field = ""
) -> Response:
    await require(request, viewer, "lineage.trace")
    estate = request.app.state.runtime.snapshot.estate
    types = [*sorted(subject_types(estate)), READS]
    trace: dict[str, Any] | None = None
    problem, status = None, 200
    if type.strip() or key.strip():
        try:
            trace = await lineage.lineage_trace(
                request, type.strip(), key.strip(), since.strip() or None
            )
        except InterlinkError as exc:
            problem, status = exc.message, exc.status
    return html(
        request,
        "lineage.html",
        viewer,
        status=status,
        types=types,
        products=sorted(estate.names("DataProduct")),
        subject_type=type,
        key=key,
        since=since,
        trace=trace,
        problem=problem,
    )
