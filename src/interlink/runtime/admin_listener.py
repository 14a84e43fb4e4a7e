"""The admin API's HTTP connections, held to the gateway's limits for its own listener.

Uvicorn bounds neither a request head's size nor the time it takes to arrive: a 10 MB header
is read whole, and a client sending a head a byte at a time (slowloris) holds its connection
for ever. This protocol adds what the gateway enforces (gateway/connection_limits.py, with the
same settings: the Platform's ``gateway.maxHeaderBytes``, ``--gateway-header-timeout`` and
``--gateway-idle-timeout``): a head larger than the limit, or with too many fields, is refused
with 431 and a request line too long with 414; a head not complete within the header timeout
is answered 408; both close the connection. Idle keep-alive connections close after the idle
timeout (uvicorn's own keep-alive timer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from interlink.gateway.connection_limits import Limits
from interlink.problems import CONTENT_TYPE, phrase, problem_bytes
from interlink.runtime.gateway import gateway_limits
from interlink.runtime.runtime import Runtime


class _Refused(Exception):
    """Raised from a parser callback: httptools stops parsing, uvicorn answers 400 instead."""


def limited_protocol(limits: Callable[[], Limits]) -> type[HttpToolsProtocol]:
    """An HTTP protocol class for uvicorn holding each connection to ``limits()``, read when
    the connection opens (so a reload's new Platform settings apply to the next ones)."""

    class LimitedProtocol(_LimitedProtocol):
        current_limits = staticmethod(limits)

    return LimitedProtocol


class _LimitedProtocol(HttpToolsProtocol):
    current_limits: Callable[[], Limits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = self.current_limits()
        self._in_head = True  # between a request's first byte (or the connection) and its head
        self._head_bytes = 0  # bytes read while in the head, chunks whole
        self._field_bytes = 0  # the head's request line and fields, as parsed
        self._fields = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # A head that never ends is refused as soon as it passes the limit, never buffered
        # whole; one that ended in this read was measured field by field.
        allowed = self.limits.max_header_bytes + self.limits.max_request_line
        if self._in_head and self._head_bytes > allowed and not self.transport.is_closing():
            self._refuse(431, f"the request head exceeds {self.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._field_bytes = self._fields = 0
        if self._head_timer is None:  # the next request on a kept-alive connection
            self._start_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line:
            self._refusal = (414, f"the request line exceeds {self.limits.max_request_line} bytes")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        self._field_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._fields > self.limits.max_headers:
            self._refusal = (431, f"more than {self.limits.max_headers} header fields")
            raise _Refused
        if self._field_bytes > self.limits.max_header_bytes:
            self._refusal = (431, f"the request head exceeds {self.limits.max_header_bytes} bytes")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._stop_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """Uvicorn's answer to a head it could not parse; a refusal of ours is answered instead."""
        if self._refusal is None:
            self._refusal = (400, "the request is not valid HTTP/1.1")
        self._refuse(*self._refusal)

    def _refuse(self, status: int, detail: str) -> None:
        self._stop_head_timer()
        body = problem_bytes(status, detail)
        head = (
            f"HTTP/1.1 {status} {phrase(status)}\r\n"
            f"content-type: {CONTENT_TYPE}\r\n"
            f"content-length: {len(body)}\r\n"
            "cache-control: no-store\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        self.transport.close()

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._in_head and self._head_bytes == 0 and self.cycle is None:
            self.transport.close()  # connected and sent nothing: nobody to answer
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._start_head_timer()  # a pipelined head waits behind a response under way
            return
        if self._in_head:
            self._refuse(408, f"the request head took over {self.limits.header_timeout:g}s")


def admin_limits(runtime: Runtime) -> Limits:
    """The gateway's limits, with the running Platform's header size."""
    platform = runtime.snapshot.estate.platform.spec.gateway
    return replace(gateway_limits(runtime.settings), max_header_bytes=platform.max_header_bytes)
