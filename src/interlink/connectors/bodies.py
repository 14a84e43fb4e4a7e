"""How a message connector turns an :class:`~interlink.connectors.base.OutgoingMessage`'s body
into bytes: a string as UTF-8 text, anything else as JSON, each with its content type."""

from __future__ import annotations

import json
from typing import Any

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


def encode_body(body: Any) -> tuple[bytes, str]:
    """The bytes to send for ``body``, and their content type."""
    if isinstance(body, str):
        return body.encode("utf-8"), TEXT
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), JSON
