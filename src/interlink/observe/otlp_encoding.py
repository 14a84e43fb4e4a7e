"""Spans written as an OTLP ``ExportTraceServiceRequest`` in the protobuf wire format, by hand.

The OpenTelemetry SDK's encoder builds a protobuf object per span, attribute and value before
serialising them: about 40 µs a span here, more than the gateway spends on a whole request.
Writing the few fields a span has straight to bytes takes a fraction of that (and it runs in
the exporter process, ``span_export.py``, off the serving process). The message layout is
opentelemetry-proto's ``trace/v1/trace.proto`` (field numbers below);
``tests/unit/observe/test_otlp_encoding.py`` checks the bytes against the SDK's own encoder by
decoding both.

What is encoded are records: plain tuples the data path appends to a queue (see :data:`SPAN`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any, Final

_Q = struct.Struct("<Q")
_D = struct.Struct("<d")

# Span.kind: SPAN_KIND_INTERNAL 1, SERVER 2, CLIENT 3, PRODUCER 4, CONSUMER 5.
KINDS: Final = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS_ERROR: Final = 2


#: What a record handed to the exporter is (its first item): a span of ``Tracing.span`` or
#: ``Tracing.record`` (:data:`SPAN`), or a gateway request's server span and upstream call
#: span (:data:`REQUEST`). Records are plain tuples, so the data path only builds one and
#: appends it, and they cross to the exporter process as they are.
SPAN: Final = 0
REQUEST: Final = 1
#: A SPAN record: (SPAN, name, kind, trace_id, span_id, parent_id or None, start_ns, end_ns,
#: attributes or None, error or None, [(linked trace_id, span_id)]). A REQUEST record: the
#: arguments of :func:`_request_spans`, after REQUEST.


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
    return _field(2, out + _status(error))  # ScopeSpans.spans


def _status(error: str | None) -> bytes:
    """A span's status (field 15): unset, or an error with ``error`` as its message."""
    if error is None:
        return b"\x7a\x00"  # an unset status, as the SDK writes it
    return _field(15, (_text(2, error) if error else b"") + b"\x18" + _varint(_STATUS_ERROR))


#: The parts of a span that repeat from request to request: its name and kind (fields 5, 6,
#: before the times), its attributes (9) and its status (15).
_Fixed = tuple[bytes, bytes, bytes]


def _fixed(name: str, kind: int, values: Mapping[str, Any], error: str | None) -> _Fixed:
    head = _text(5, name) + b"\x30" + _varint(kind)
    return head, b"".join(_attribute(9, k, v) for k, v in values.items()), _status(error)


#: The repeating parts of the gateway's spans, by what they are made of: a request's
#: (method, route, status, consumer), an upstream call's (method, System, status). Bounded
#: like _ENCODED.
_SERVER: dict[tuple[str, str | None, int, str | None], _Fixed] = {}
_CLIENT: dict[tuple[str, str, int], _Fixed] = {}
_PATH_KEY: Final = _key_field("url.path")
_REQUEST_ID_KEY: Final = _key_field("interlink.request_id")


def _server_fixed(method: str, route: str | None, status: int, consumer: str | None) -> _Fixed:
    key = (method, route, status, consumer)
    found = _SERVER.get(key)
    if found is None:
        name = f"gateway {method} {route}" if route is not None else f"gateway {method}"
        values: dict[str, str | int] = {"http.request.method": method,
                                        "http.response.status_code": status}  # fmt: skip
        if route is not None:
            values["http.route"] = route
        if consumer is not None:
            values["interlink.consumer"] = consumer
        if len(_SERVER) >= _MAX_ENCODED:
            _SERVER.clear()
        error = f"HTTP {status}" if status >= 500 else None
        found = _SERVER[key] = _fixed(name, 2, values, error)
    return found


def _client_fixed(method: str, system: str, status: int) -> _Fixed:
    key = (method, system, status)
    found = _CLIENT.get(key)
    if found is None:
        values: dict[str, str | int] = {"http.request.method": method, "interlink.system": system}
        if status:
            values["http.response.status_code"] = status
        error = None if 0 < status < 500 else (f"HTTP {status}" if status else "no answer")
        if len(_CLIENT) >= _MAX_ENCODED:
            _CLIENT.clear()
        found = _CLIENT[key] = _fixed(f"upstream {system}", 3, values, error)
    return found


def _times(start: int, end: int) -> bytes:
    return b"\x39" + _Q.pack(start) + b"\x41" + _Q.pack(end)


def _unique(key: bytes, value: str) -> bytes:
    """A string attribute (field 9) whose value differs on every span (a path, a request
    id), written in one go under its encoded ``key``."""
    data = value.encode("utf-8", "surrogatepass")
    any_value = b"\x0a" + _varint(len(data)) + data
    pair = key + b"\x12" + _varint(len(any_value)) + any_value
    return b"\x4a" + _varint(len(pair)) + pair


def encode_record(record: tuple[Any, ...]) -> bytes:
    """One record's spans, as ``spans`` fields of a ``ScopeSpans``."""
    if record[0] == REQUEST:
        return _request_spans(*record[1:])
    _, name, kind, trace_id, span_id, parent_id, start, end, values, error, links = record
    return _span(name, kind, trace_id, span_id, parent_id, start, end, values, error,
                 ((t, s, None) for t, s in links))  # fmt: skip


def spans_in(record: tuple[Any, ...]) -> int:
    """How many spans :func:`encode_record` writes of ``record``."""
    return 2 if record[0] == REQUEST and record[4] and record[14] is not None else 1


def _request_spans(
    trace: int,
    server: int,
    parent: int | None,
    client: int,
    sent_ns: int,
    start: int,
    end: int,
    method: str,
    path: str,
    route: str | None,
    status: int,
    request_id: str,
    consumer: str | None,
    system: str | None,
    upstream_status: int,
    upstream_seconds: float,
) -> bytes:
    """A gateway request's server span and, when it went upstream, its client span."""
    head, values, ended = _server_fixed(method, route, status, consumer)
    out = _ids(trace, server)
    if parent:
        out += b"\x22\x08" + parent.to_bytes(8, "big")
    out += head + _times(start, end) + values + _unique(_PATH_KEY, path)
    out = _field(2, out + _unique(_REQUEST_ID_KEY, request_id) + ended)
    if client and system is not None:
        head, values, ended = _client_fixed(method, system, upstream_status)
        # Durations come from the loop's clock, cached per loop pass: keep the call inside the
        # request's span.
        sent = min(max(sent_ns, start), end)
        until = min(sent + int(upstream_seconds * 1e9), end)
        called = _ids(trace, client) + b"\x22\x08" + server.to_bytes(8, "big")
        out += _field(2, called + head + _times(sent, until) + values + ended)
    return out


def resource_prefix(resource: Mapping[str, Any], scope: str, version: str) -> tuple[bytes, bytes]:
    """The fixed parts of every request from one process: the ``Resource`` (field 1 of
    ``ResourceSpans``) and the ``InstrumentationScope`` (field 1 of ``ScopeSpans``)."""
    return _field(1, attributes(1, resource)), _field(1, _text(1, scope) + _text(2, version))


def encode_request(prefix: tuple[bytes, bytes], records: Iterable[tuple[Any, ...]]) -> bytes:
    """An ``ExportTraceServiceRequest`` of ``records``' spans, all of one resource and scope."""
    resource, scope = prefix
    spans = b"".join(map(encode_record, records))
    return _field(1, resource + _field(2, scope + spans))
