"""RFC 9457 problem details for every response the gateway makes up itself.

The document is the one every Interlink API answers with (:mod:`interlink.problems`);
``instance`` is the request id, which is also in the ``X-Request-Id`` response header and what
the logs carry.
"""

from __future__ import annotations

import json
from typing import Any

from interlink.problems import problem_document

CONTENT_TYPE = b"application/problem+json"


def problem(
    status: int, detail: str, *, instance: str, title: str | None = None, **extra: Any
) -> bytes:
    body = problem_document(status, detail, title=title, instance=instance, **extra)
    return json.dumps(body, ensure_ascii=False).encode()
