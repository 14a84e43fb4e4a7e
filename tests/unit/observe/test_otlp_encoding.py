"""The hand-written OTLP encoding against the OpenTelemetry SDK's own, decoded alike."""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from interlink.observe.otlp_encoding import Finished, encode_request, resource_prefix

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


def test_sdk_spans_encode_as_the_sdk_encodes_them() -> None:
    spans = [
        _sdk_span(),
        _sdk_span(name="root", parent=None, kind=SpanKind.INTERNAL, status=Status(), links=()),
        _sdk_span(kind=SpanKind.CONSUMER, attributes={}, status=Status(StatusCode.ERROR)),
    ]
    resource = spans[0].resource.attributes
    ours = encode_request(resource_prefix(resource, "interlink", "0.1.0"), spans)
    theirs = encode_spans(spans).SerializeToString()
    assert _decoded(ours) == _decoded(theirs)


def test_a_finished_span_encodes_as_the_same_sdk_span() -> None:
    finished = Finished(
        "gateway GET crm",
        2,
        0x4BF92F3577B34DA6A3CE929D0E0E4736,
        0x00F067AA0BA902B7,
        0x1234,
        1_700_000_000_000_000_000,
        1_700_000_000_000_123_456,
        ATTRIBUTES,
        "HTTP 503",
        [(5, 6)],
    )
    sdk = _sdk_span(links=(Link(SpanContext(5, 6, True)),))
    prefix = resource_prefix(sdk.resource.attributes, "interlink", "0.1.0")
    assert _decoded(encode_request(prefix, [finished])) == _decoded(
        encode_spans([sdk]).SerializeToString()
    )
