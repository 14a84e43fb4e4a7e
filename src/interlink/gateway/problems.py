"""RFC 9457 problem details for every response the gateway makes up itself.

The same document shape as the admin API's; ``instance`` is the request id, which is also in
the ``X-Request-Id`` response header and what the logs carry.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

PROBLEM_TYPE = "https://interlink.dev/problems/"
CONTENT_TYPE = b"application/problem+json"


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(
    status: int, detail: str, *, instance: str, title: str | None = None, **extra: Any
) -> bytes:
    text = phrase(status)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + text.lower().replace(" ", "-").replace("'", ""),
        "title": title or text,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update(extra)
    return json.dumps(body, ensure_ascii=False).encode()
