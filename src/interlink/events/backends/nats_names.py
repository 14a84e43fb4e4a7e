"""How event types and subscriptions map to JetStream names, subjects and headers.

Stream and consumer names allow only ``[A-Za-z0-9_-]``; subjects forbid whitespace, ``*``,
``>`` and empty tokens. One escape covers both, and it is injective, so two types never share
a stream:

- a *plain* name, tokens of ``[A-Za-z0-9-]`` joined by single dots (every estate name whose dots
  separate non-empty tokens), becomes itself with ``.`` → ``_``: ``customer.address-updated`` →
  ``customer_address-updated``; its subject is the name itself;
- any other name becomes ``_`` followed by the name with ASCII letters and digits kept, ``.`` →
  ``_`` and every other byte of its UTF-8 → ``-`` and two hex digits: ``a..b`` → ``_a__b``,
  ``a b`` → ``_a-20b``; its subject is that one token. Plain names never start with ``_``;
- a result longer than ``MAX_TOKEN`` keeps its first characters and ends in ``__`` plus 16 hex
  digits of the name's SHA-256 (plain results never contain ``__``).

Every name is ``{prefix}_{token}`` and every subject ``{prefix}.ev.{…}``. A prefix is letters,
digits and ``-`` only, so the first ``_`` of a name ends its prefix: one estate never mistakes
another's streams or consumers for its own.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Final
from urllib.parse import quote, unquote

from interlink.errors import ConfigError
from interlink.events.bus import Envelope

MAX_TOKEN: Final = 160
_PREFIX: Final = re.compile(r"[A-Za-z0-9-]{1,32}")
_PLAIN: Final = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_KEPT: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

# Header values are percent-encoded: NATS headers are one line of ASCII and nats-py strips
# surrounding blanks, while ids, sources and keys may hold any character. URI punctuation stays.
_HEADER_SAFE: Final = "!#$&'()*+,/:;=?@[]~"
_HEADER_PLAIN: Final = re.compile(r"[A-Za-z0-9_.~!#$&'()*+,/:;=?@\[\]-]*")
HEADER_TYPE: Final = "Interlink-Type"
HEADER_ID: Final = "Interlink-Id"
HEADER_SOURCE: Final = "Interlink-Source"
HEADER_KEY: Final = "Interlink-Key"
HEADER_MSG_ID: Final = "Nats-Msg-Id"


def check_prefix(prefix: str) -> str:
    if not _PREFIX.fullmatch(prefix):
        raise ConfigError(
            f"invalid NATS prefix {prefix!r}: use 1-32 letters, digits and '-' (no '_' or '.')"
        )
    return prefix


def token(name: str) -> str:
    """``name`` as a ``[A-Za-z0-9_-]`` token, per the rules above."""
    if _PLAIN.fullmatch(name):
        escaped = name.replace(".", "_")
    else:
        escaped = "_" + "".join(_escape(byte) for byte in name.encode())
    if len(escaped) <= MAX_TOKEN:
        return escaped
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{escaped[: MAX_TOKEN - 18]}__{digest}"


def _escape(byte: int) -> str:
    if byte in _KEPT:
        return chr(byte)
    return "_" if byte == ord(".") else f"-{byte:02x}"


def stream_name(prefix: str, event_type: str) -> str:
    return f"{prefix}_{token(event_type)}"


def consumer_name(prefix: str, subscription: str) -> str:
    return f"{prefix}_{token(subscription)}"


def subject(prefix: str, event_type: str) -> str:
    tail = event_type if _PLAIN.fullmatch(event_type) else token(event_type)
    return f"{prefix}.ev.{tail}"


def owned(prefix: str, name: str) -> bool:
    """Whether a stream or consumer name belongs to ``prefix``."""
    return name.startswith(f"{prefix}_")


def encode_header(value: str) -> str:
    if _HEADER_PLAIN.fullmatch(value):
        return value  # what quote() would return, found faster: most values are plain
    return quote(value, safe=_HEADER_SAFE)


_encode_repeated = functools.lru_cache(maxsize=1024)(encode_header)  # types and sources repeat


def decode_header(value: str) -> str:
    return unquote(value)


def header_bytes(headers: dict[str, str]) -> int:
    """The size of a header block on the wire (``NATS/1.0``, one line each, a blank line)."""
    return 12 + sum(len(k) + len(v.encode()) + 4 for k, v in headers.items())


def headers_for(envelope: Envelope, *, dedup: bool) -> dict[str, str]:
    """The headers of one event's message; ``Nats-Msg-Id`` only where the stream dedups."""
    headers = {
        HEADER_TYPE: _encode_repeated(envelope.type),
        HEADER_ID: encode_header(envelope.id),
        HEADER_SOURCE: _encode_repeated(envelope.source),
    }
    if envelope.key is not None:
        headers[HEADER_KEY] = encode_header(envelope.key)
    if dedup:
        headers[HEADER_MSG_ID] = envelope.dedup_id
    return headers
