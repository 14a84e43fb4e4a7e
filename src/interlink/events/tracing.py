"""Trace context carried by events: a span per publish, and one per delivery attempt under it.

An event carries its trace context in the CloudEvents distributed-tracing extension, the
``traceparent`` (and ``tracestate``) attributes of the event itself, so it is stored with the
event by every bus backend and read back by whichever node delivers it, at any later time. A
publish with tracing on is a ``producer`` span (under the publisher's ``traceparent`` header,
or the current span); each event that comes without its own ``traceparent`` is stored with the
publish span's (written into its body as it is validated, the event itself left as it is).
Each delivery attempt is a ``consumer`` span, a child of the event's ``traceparent``, current
while the target is called: a webhook is sent that span's ``traceparent``, and a flow run
started by it links to it. An event whose trace is not recorded gets no span: a webhook is
sent its ``traceparent`` as it is, read from the body by the sender (no context is made
current for it), and a flow or handler runs with that context current.
"""

from __future__ import annotations

_TRACEPARENT = b'"traceparent":"'
# The structured body's data comes last (cloudevents.py), and every attribute before it is a
# JSON string, whose quotes are escaped: the first of these marks where the attributes end.
_DATA_KEYS = (b',"data":', b',"data_base64":')
_LENGTH = 55  # 00-<32 hex>-<16 hex>-<2 hex>


def event_traceparent(body: bytes) -> str | None:
    """The ``traceparent`` attribute of a structured-mode event as this platform stores it,
    found without parsing the whole body (which may be megabytes of data)."""
    at = body.find(_TRACEPARENT)
    if at < 0:
        return None
    for key in _DATA_KEYS:
        data = body.find(key)
        if 0 <= data < at:  # the match lies inside the data, not among the attributes
            return None
    start = at + len(_TRACEPARENT)
    return body[start : start + _LENGTH].decode("latin-1")
