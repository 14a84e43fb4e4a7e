"""RFC 9457 problem documents, independent of any web framework.

The admin API (FastAPI), the gateway and the event ingress all answer errors with the same
document shape; this is where that shape is defined.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Final

PROBLEM_TYPE: Final = "https://interlink.dev/problems/"
CONTENT_TYPE: Final = "application/problem+json"


def phrase(status: int) -> str:
    """The status's reason phrase; "Error" for a code HTTP does not name."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_document(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    slug: str | None = None,
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    text = phrase(status)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + (slug or text.lower().replace(" ", "-").replace("'", "")),
        "title": title or text,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_bytes(status: int, detail: str, **fields: Any) -> bytes:
    return json.dumps(problem_document(status, detail, **fields), separators=(",", ":")).encode()
