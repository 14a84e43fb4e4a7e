"""The hand-written OTLP encoding against the OpenTelemetry SDK's own, decoded alike."""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from interlink.observe.otlp_encoding import (
    REQUEST,
    SPAN,
    encode_request,
    resource_prefix,
    spans_in,
)

RESOURCE = {"service.name": "interlink", "service.instance.id": "n1"}
ATTRIBUTES: dict[str, Any] = {
    "http.request.method": "GET",
    "http.response.status_code": 503,
    "negative": -7,
    "ratio": 0.25,
    "sampled": True,
    "off": False,
    "text": "ünïcode ✓",
}


def _sdk_span(**overrides: Any) -> ReadableSpan:
    fields: dict[str, Any] = {
        "name": "gateway GET crm",
        "context": SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False),
        "parent": SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x1234, True),
        "resource": Resource.create(RESOURCE),
        "attributes": ATTRIBUTES,
        "kind": SpanKind.SERVER,
        "status": Status(StatusCode.ERROR, "HTTP 503"),
        "start_time": 1_700_000_000_000_000_000,
        "end_time": 1_700_000_000_000_123_456,
        "instrumentation_scope": InstrumentationScope("interlink", "0.1.0"),
        "links": (Link(SpanContext(5, 6, True), {"why": "started it"}),),
    }
    return ReadableSpan(**{**fields, **overrides})


def _decoded(data: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(data)
    for resource_spans in request.resource_spans:
        for scope in resource_spans.scope_spans:
            scope.ClearField("schema_url")
            for span in scope.spans:
                span.ClearField("flags")  # the SDK's parent-is-remote bits; optional
                for link in span.links:
                    link.ClearField("flags")
    return request


def _record(span: ReadableSpan) -> tuple[Any, ...]:
    """The record Tracing.span or Tracing.record would hand the exporter for ``span``."""
    status = span.status
    error = (status.description or "") if status.status_code == StatusCode.ERROR else None
    return (
        SPAN,
        span.name,
        span.kind.value + 1,
        span.context.trace_id,
        span.context.span_id,
        span.parent.span_id if span.parent is not None else None,
        span.start_time,
        span.end_time,
        dict(span.attributes or {}),
        error,
        [(link.context.trace_id, link.context.span_id) for link in span.links],
    )


def test_span_records_encode_as_the_sdk_encodes_the_same_spans() -> None:
    spans = [
        _sdk_span(links=(Link(SpanContext(5, 6, True)),)),
        _sdk_span(name="root", parent=None, kind=SpanKind.INTERNAL, status=Status(), links=()),
        _sdk_span(
            kind=SpanKind.CONSUMER,
            attributes={},
            status=Status(StatusCode.ERROR),
            links=(Link(SpanContext(7, 8, True)), Link(SpanContext(9, 10, True))),
        ),
    ]
    resource = spans[0].resource.attributes
    ours = encode_request(resource_prefix(resource, "interlink", "0.1.0"), map(_record, spans))
    theirs = encode_spans(spans).SerializeToString()
    assert _decoded(ours) == _decoded(theirs)
    assert [spans_in(_record(span)) for span in spans] == [1, 1, 1]


def test_a_gateway_request_record_is_its_server_and_upstream_spans() -> None:
    trace, server, client, parent = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x11, 0x22, 0x1234
    start, end = 1_700_000_000_000_000_000, 1_700_000_000_010_000_000
    record = (REQUEST, trace, server, parent, client, start + 1_000_000, start, end, "GET",
              "/crm/x", "crm", 502, "req-1", "shop", "crm", 503, 0.002)  # fmt: skip
    server_span = _sdk_span(
        name="gateway GET crm",
        context=SpanContext(trace, server, False),
        parent=SpanContext(trace, parent, True),
        kind=SpanKind.SERVER,
        status=Status(StatusCode.ERROR, "HTTP 502"),
        start_time=start,
        end_time=end,
        links=(),
        attributes={
            "http.request.method": "GET",
            "http.response.status_code": 502,
            "http.route": "crm",
            "interlink.consumer": "shop",
            "url.path": "/crm/x",
            "interlink.request_id": "req-1",
        },
    )
    client_span = _sdk_span(
        name="upstream crm",
        context=SpanContext(trace, client, False),
        parent=SpanContext(trace, server, False),
        kind=SpanKind.CLIENT,
        status=Status(StatusCode.ERROR, "HTTP 503"),
        start_time=start + 1_000_000,
        end_time=start + 3_000_000,
        links=(),
        attributes={
            "http.request.method": "GET",
            "interlink.system": "crm",
            "http.response.status_code": 503,
        },
    )
    prefix = resource_prefix(server_span.resource.attributes, "interlink", "0.1.0")
    assert _decoded(encode_request(prefix, [record])) == _decoded(
        encode_spans([server_span, client_span]).SerializeToString()
    )
    assert spans_in(record) == 2
    unrouted = (REQUEST, trace, server, None, 0, 0, start, end, "GET", "/nowhere", None, 404,
                "req-2", None, None, 0, 0.0)  # fmt: skip
    assert spans_in(unrouted) == 1
    (only,) = _decoded(encode_request(prefix, [unrouted])).resource_spans[0].scope_spans[0].spans
    assert (only.name, only.kind, only.status.code) == ("gateway GET", 2, 0)


def _request_record_spans(
    status: int, consumer: str | None, upstream_status: int
) -> tuple[tuple[Any, ...], list[ReadableSpan]]:
    """A routed request's record and the SDK spans it stands for."""
    trace, server, client = 0xABC, 0x31, 0x32
    start, end = 1_700_000_000_000_000_000, 1_700_000_000_010_000_000
    record = (REQUEST, trace, server, None, client, start, start, end, "POST", "/o/1", "orders",
              status, "req-9", consumer, "erp", upstream_status, 0.004)  # fmt: skip
    values: dict[str, Any] = {
        "http.request.method": "POST",
        "http.response.status_code": status,
        "http.route": "orders",
    }
    if consumer is not None:
        values["interlink.consumer"] = consumer
    failed = Status(StatusCode.ERROR, f"HTTP {status}") if status >= 500 else Status()
    called: dict[str, Any] = {"http.request.method": "POST", "interlink.system": "erp"}
    if upstream_status:
        called["http.response.status_code"] = upstream_status
    answer = f"HTTP {upstream_status}" if upstream_status else "no answer"
    told = Status() if 0 < upstream_status < 500 else Status(StatusCode.ERROR, answer)
    spans = [
        _sdk_span(name="gateway POST orders", context=SpanContext(trace, server, False),
                  parent=None, kind=SpanKind.SERVER, status=failed, start_time=start,
                  end_time=end, links=(),
                  attributes={**values, "url.path": "/o/1", "interlink.request_id": "req-9"}),
        _sdk_span(name="upstream erp", context=SpanContext(trace, client, False),
                  parent=SpanContext(trace, server, False), kind=SpanKind.CLIENT,
                  status=told,
                  start_time=start, end_time=start + 4_000_000, links=(), attributes=called),
    ]  # fmt: skip
    return record, spans


def test_request_records_of_every_shape_encode_as_the_sdk_encodes_their_spans() -> None:
    shapes = [(200, None, 200), (201, "shop", 201), (502, "shop", 0), (504, None, 504)]
    for _ in range(2):  # the second time from the encoded parts kept for reuse
        for status, consumer, upstream_status in shapes:
            record, spans = _request_record_spans(status, consumer, upstream_status)
            prefix = resource_prefix(spans[0].resource.attributes, "interlink", "0.1.0")
            assert _decoded(encode_request(prefix, [record])) == _decoded(
                encode_spans(spans).SerializeToString()
            ), (status, consumer, upstream_status)
