"""Spans written as an OTLP ``ExportTraceServiceRequest`` in the protobuf wire format, by hand.

The OpenTelemetry SDK's encoder builds a protobuf object per span, attribute and value before
serialising them: about 40 µs a span here, more than the gateway spends on a whole request.
Writing the few fields a span has straight to bytes takes a fraction of that, and the export
thread holds the interpreter that much less. The message layout is opentelemetry-proto's
``trace/v1/trace.proto`` (field numbers below); ``tests/unit/observe/test_otlp_encoding.py``
checks the bytes against the SDK's own encoder by decoding both.

A span is either an SDK ``ReadableSpan`` (from ``Tracing.span``) or a :class:`Finished`, the
lighter record ``Tracing.record`` hands the batch processor on the gateway's request path.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

_Q = struct.Struct("<Q")
_D = struct.Struct("<d")

# Span.kind: SPAN_KIND_INTERNAL 1, SERVER 2, CLIENT 3, PRODUCER 4, CONSUMER 5.
KINDS: Final = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS_ERROR: Final = 2
#: Spans encoded between two pauses of the export thread.
CHUNK: Final = 32


class _Sampled:
    """What the batch processor reads of a span's context: that it is sampled."""

    __slots__ = ()

    class trace_flags:
        sampled = True


#: The ``context`` of what is handed to the batch processor and is not an SDK span.
SAMPLED: Final = _Sampled()


class Finished:
    """A finished span whose ids the caller chose; encoded by :func:`encode_request`."""

    __slots__ = (
        "attributes",
        "end",
        "error",
        "kind",
        "links",
        "name",
        "parent_id",
        "span_id",
        "start",
        "trace_id",
    )
    context = SAMPLED

    def __init__(
        self,
        name: str,
        kind: int,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        start: int,
        end: int,
        attributes: Mapping[str, Any],
        error: str | None,
        links: Sequence[tuple[int, int]],
    ) -> None:
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.start = start
        self.end = end
        self.attributes = attributes
        self.error = error
        self.links = links


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _SMALL[value]
    if value < 0:
        value += 1 << 64
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL: Final = [bytes((n,)) for n in range(0x80)]


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _text(number: int, value: str) -> bytes:
    return _field(number, value.encode("utf-8", "surrogatepass"))


def _any(value: Any) -> bytes:
    """An ``AnyValue``: string 1, bool 2, int 3, double 4."""
    if isinstance(value, str):
        return _text(1, value)
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _D.pack(value)
    return _text(1, str(value))


#: Encoded attributes (field 9 of a span) by key and value, for the values that repeat: a
#: method, a route, a status. Bounded: emptied when full.
_ENCODED: dict[tuple[str, type, Any], bytes] = {}
_MAX_ENCODED: Final = 4096
#: Attributes whose values are different on every span (a path, a request id, a run id).
_UNIQUE: Final = frozenset({"url.path", "interlink.request_id", "interlink.flow.run",
                            "messaging.message.id"})  # fmt: skip


def _text_attribute(key: str, value: str) -> bytes:
    """A span's string attribute (field 9), written in one go: the common case of a value
    that differs on every span (a path, a request id)."""
    data = value.encode("utf-8", "surrogatepass")
    any_value = b"\x0a" + _varint(len(data)) + data
    pair = _key_field(key) + b"\x12" + _varint(len(any_value)) + any_value
    return b"\x4a" + _varint(len(pair)) + pair


_KEYS: dict[str, bytes] = {}


def _key_field(key: str) -> bytes:
    found = _KEYS.get(key)
    if found is None:
        if len(_KEYS) >= _MAX_ENCODED:
            _KEYS.clear()
        found = _KEYS[key] = _text(1, key)
    return found


def _attribute(number: int, key: str, value: Any) -> bytes:
    return _field(number, _text(1, key) + _field(2, _any(value)))


def attributes(number: int, values: Mapping[str, Any] | None) -> bytes:
    """Repeated ``KeyValue`` field ``number``: key 1, value 2."""
    if not values:
        return b""
    if number != 9:
        return b"".join(_attribute(number, key, value) for key, value in values.items())
    out = []
    cache = _ENCODED
    for key, value in values.items():
        if key in _UNIQUE:
            out.append(_attribute(9, key, value))
            continue
        pair = (key, type(value), value)
        found = cache.get(pair)
        if found is None:
            if len(cache) >= _MAX_ENCODED:
                cache.clear()
            found = cache[pair] = _attribute(9, key, value)
        out.append(found)
    return b"".join(out)


def _ids(trace_id: int, span_id: int) -> bytes:
    return b"\x0a\x10" + trace_id.to_bytes(16, "big") + b"\x12\x08" + span_id.to_bytes(8, "big")


def _span(
    name: str,
    kind: int,
    trace_id: int,
    span_id: int,
    parent_id: int | None,
    start: int,
    end: int,
    values: Mapping[str, Any] | None,
    error: str | None,
    links: Iterable[tuple[int, int, Mapping[str, Any] | None]],
) -> bytes:
    # trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8 (fixed64),
    # attributes 9, links 13 (trace_id 1, span_id 2, attributes 4), status 15 (message 2,
    # code 3).
    out = _ids(trace_id, span_id)
    if parent_id:
        out += b"\x22\x08" + parent_id.to_bytes(8, "big")
    out += _text(5, name) + b"\x30" + _varint(kind)
    out += b"\x39" + _Q.pack(start) + b"\x41" + _Q.pack(end)
    out += attributes(9, values)
    for link_trace, link_span, link_values in links:
        out += _field(13, _ids(link_trace, link_span) + attributes(4, link_values))
    if error is not None:
        out += _field(15, (_text(2, error) if error else b"") + b"\x18" + _varint(_STATUS_ERROR))
    else:
        out += b"\x7a\x00"  # an unset status, as the SDK writes it
    return _field(2, out)  # ScopeSpans.spans


#: Encoded names and kinds, and sets of attributes, that repeat (bounded like _ENCODED).
_NAMES: dict[tuple[str, int], bytes] = {}
_FIXED: dict[tuple[Any, ...], bytes] = {}


def encode_fields(
    name: str,
    kind: int,
    trace_id: int,
    span_id: int,
    parent_id: int | None,
    start: int,
    end: int,
    fixed: Mapping[str, Any],
    unique: Mapping[str, Any] | None,
    error: str | None,
) -> bytes:
    """One span whose ``fixed`` attributes repeat from span to span (a route, a method, a
    status: encoded once) and whose ``unique`` ones do not; what the gateway's spans use."""
    out = _ids(trace_id, span_id)
    if parent_id:
        out += b"\x22\x08" + parent_id.to_bytes(8, "big")
    named = _NAMES.get((name, kind))
    if named is None:
        if len(_NAMES) >= _MAX_ENCODED:
            _NAMES.clear()
        named = _NAMES[(name, kind)] = _text(5, name) + b"\x30" + _varint(kind)
    out += named + b"\x39" + _Q.pack(start) + b"\x41" + _Q.pack(end)
    key = tuple(fixed.items())
    encoded = _FIXED.get(key)
    if encoded is None:
        if len(_FIXED) >= _MAX_ENCODED:
            _FIXED.clear()
        encoded = _FIXED[key] = b"".join(_attribute(9, k, v) for k, v in fixed.items())
    out += encoded
    if unique:
        out += b"".join(_text_attribute(k, v) for k, v in unique.items())
    if error is not None:
        out += _field(15, _text(2, error) + b"\x18" + _varint(_STATUS_ERROR))
    else:
        out += b"\x7a\x00"
    return _field(2, out)


def encode_span(span: Any) -> bytes:
    """One span, as the ``spans`` field of a ``ScopeSpans``; what is not an SDK span nor a
    :class:`Finished` encodes itself (``otlp()``: the gateway's request spans)."""
    if type(span) is not Finished and hasattr(span, "otlp"):
        encoded: bytes = span.otlp()
        return encoded
    if isinstance(span, Finished):
        return _span(
            span.name,
            span.kind,
            span.trace_id,
            span.span_id,
            span.parent_id,
            span.start,
            span.end,
            span.attributes,
            span.error,
            ((t, s, None) for t, s in span.links),
        )
    context = span.context
    parent = span.parent
    status = span.status
    error = (status.description or "") if status.status_code.value == _STATUS_ERROR else None
    return _span(
        span.name,
        span.kind.value + 1,  # the SDK's SpanKind counts from INTERNAL = 0
        context.trace_id,
        context.span_id,
        parent.span_id if parent is not None else None,
        span.start_time or 0,
        span.end_time or 0,
        span.attributes,
        error,
        ((link.context.trace_id, link.context.span_id, link.attributes) for link in span.links),
    )


def resource_prefix(resource: Mapping[str, Any], scope: str, version: str) -> tuple[bytes, bytes]:
    """The fixed parts of every request from one process: the ``Resource`` (field 1 of
    ``ResourceSpans``) and the ``InstrumentationScope`` (field 1 of ``ScopeSpans``)."""
    return _field(1, attributes(1, resource)), _field(1, _text(1, scope) + _text(2, version))


def encode_request(
    prefix: tuple[bytes, bytes], spans: Sequence[Any], pause: Callable[[], None] | None = None
) -> bytes:
    """An ``ExportTraceServiceRequest`` of ``spans``, all of one resource and scope.
    ``pause`` is called after every :data:`CHUNK` spans: the export thread lets the event
    loop's thread have the interpreter there, rather than hold it for a whole batch."""
    resource, scope = prefix
    parts = [scope]
    for start in range(0, len(spans), CHUNK):
        parts.append(b"".join(encode_span(span) for span in spans[start : start + CHUNK]))
        if pause is not None:
            pause()
    return _field(1, resource + _field(2, b"".join(parts)))
