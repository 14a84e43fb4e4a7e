"""Request ids and W3C trace context ids: made up when the client's are absent or malformed.

Ids need to be unique, not secret: a seeded PRNG saves a system call per request.
"""

from __future__ import annotations

import os
import random
import re

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:+/=@-]{1,128}")
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-[^\s]*)?")
_bits = random.Random(os.urandom(32)).getrandbits


def request_id(value: bytes | None) -> str:
    """The client's X-Request-Id when it is a sane token, else a new random one."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value.decode("ascii")
    return _bits(128).to_bytes(16, "big").hex()


def valid_traceparent(value: bytes) -> bool:
    """W3C Trace Context §3.2: version 00 exactly, later versions as a prefix; no zero ids."""
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return False
    version, trace_id, parent_id, extra = match.groups()
    if version == b"ff" or (version == b"00" and extra):
        return False
    return trace_id != b"0" * 32 and parent_id != b"0" * 16


def new_traceparent() -> bytes:
    # `or 1`: never the all-zero ids the spec makes invalid
    return b"00-%032x-%016x-01" % (_bits(128) or 1, _bits(64) or 1)
