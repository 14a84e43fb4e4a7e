"""The exporter process: spans recorded by a serving process, encoded and sent over OTLP/HTTP.

Encoding spans as protobuf and posting them is the costly part of tracing, and in the serving
process it would hold the interpreter the event loop needs. So each process that traces hands
its records (``otlp_encoding.py``'s tuples) in pickled frames over a pipe to a child process
running :func:`main`, which encodes each frame as one ``ExportTraceServiceRequest``, posts it
to the endpoint and answers how many spans it took, on another core when there is one, as an
OpenTelemetry collector beside the platform would. :class:`ExporterProcess` is the serving
process's side: it starts the child when there is a first frame to send, and again when it
died or hung.

A frame is a 4-byte big-endian length and a pickle. The first frame to the child is its
settings (the URL, the timeout, the encoded resource and scope); each later one is a list of
records, answered by ``(spans taken, spans lost, why)``. The child ignores SIGINT and SIGTERM
(a stopping server sends the last spans first) and ends when its input closes, as it does
when its parent ends whatever the way.
"""

from __future__ import annotations

import http.client
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
import urllib.parse
from typing import IO, Any, Final

from interlink.observe.otlp_encoding import encode_request, spans_in

_LENGTH: Final = struct.Struct(">I")
#: Answers that ask for the same request again a little later (the OTLP exporter
#: specification's retryable statuses).
_RETRYABLE: Final = frozenset({429, 502, 503, 504})
#: Seconds the serving process waits for the child to start or to answer past its timeout.
_GRACE: Final = 5.0

Outcome = tuple[int, int, str]  # (spans taken, spans lost, why they were lost)


def _frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


# --- the child ---------------------------------------------------------------------------


class _Poster:
    """POSTs to one OTLP/HTTP URL over a kept-alive connection, retrying what may pass."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.connection is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self.connection = kind(self.host, self.port, timeout=timeout)
        return self.connection

    def _once(self, data: bytes, timeout: float) -> int:
        connection = self._connect(timeout)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        try:
            connection.request("POST", self.path, data, {"content-type": "application/x-protobuf"})
            response = connection.getresponse()
            response.read()
        except BaseException:
            connection.close()
            self.connection = None
            raise
        if response.will_close:
            connection.close()
            self.connection = None
        return response.status

    def post(self, data: bytes) -> str:
        """Send ``data``; "" when the endpoint took it, else why not."""
        deadline = time.monotonic() + self.timeout
        delay = 0.25
        reason = "no answer"
        stale = True  # a kept-alive connection the endpoint closed fails once, at once
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return reason
            try:
                status = self._once(data, left)
            except (OSError, http.client.HTTPException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if stale:
                    stale = False
                    continue
            else:
                if 200 <= status < 300:
                    return ""
                reason = f"HTTP {status}"
                if status not in _RETRYABLE:
                    return reason
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay *= 2


def _read(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def _receive(stream: IO[bytes]) -> Any:
    """The next frame, or None when the input closed."""
    head = _read(stream, _LENGTH.size)
    if head is None:
        return None
    body = _read(stream, _LENGTH.unpack(head)[0])
    # Only ever the parent process's own frames, over the pipe it made: trusted.
    return None if body is None else pickle.loads(body)  # noqa: S301


def main() -> None:
    """The child: frames in on stdin, outcomes out on stdout, until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    settings = _receive(source)
    if settings is None:
        return
    url, timeout, prefix = settings
    poster = _Poster(url, timeout)
    while (records := _receive(source)) is not None:
        spans = sum(map(spans_in, records))
        try:
            why = poster.post(encode_request(prefix, records))
        except Exception as exc:  # a bad record must not end the exporter
            why = f"{type(exc).__name__}: {exc}"
        sink.write(_frame((0, spans, why) if why else (spans, 0, "")))
        sink.flush()


# --- the serving process's side ------------------------------------------------------------


class ExporterProcess:
    """The child that exports this process's spans (see the module doc); used by one thread."""

    def __init__(self, url: str, timeout: float, prefix: tuple[bytes, bytes]) -> None:
        self.settings = (url, timeout, prefix)
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None

    def _started(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "interlink.observe.span_export"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
            )
            self._send(self.process, _frame(self.settings))
        return self.process

    @staticmethod
    def _send(process: subprocess.Popen[bytes], data: bytes) -> None:
        assert process.stdin is not None
        process.stdin.write(data)
        process.stdin.flush()

    def _answer(self, process: subprocess.Popen[bytes]) -> Any:
        """The child's answer to the frame just sent, or an OSError when none comes in time."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + self.timeout + _GRACE
        data = b""
        size: int | None = None
        while size is None or len(data) < size:
            if size is None and len(data) >= _LENGTH.size:
                size = _LENGTH.size + _LENGTH.unpack(data[: _LENGTH.size])[0]
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("the exporter process did not answer in time")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("the exporter process stopped")
            data += chunk
        return pickle.loads(data[_LENGTH.size : size])  # noqa: S301 (its own child's answer)

    def export(self, records: list[tuple[Any, ...]]) -> Outcome:
        """Have ``records`` exported; what the child says, or all lost when it failed."""
        try:
            process = self._started()
            self._send(process, _frame(records))
            taken, lost, why = self._answer(process)
            return int(taken), int(lost), str(why)
        except (OSError, EOFError, ValueError, pickle.PickleError) as exc:
            self.stop(0)
            return 0, sum(map(spans_in, records)), f"{type(exc).__name__}: {exc}"

    def stop(self, timeout: float = _GRACE) -> None:
        """Close the child's input and wait ``timeout`` seconds for it to end, else kill it."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    main()
