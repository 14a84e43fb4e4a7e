"""The gateway workers' metrics at the admin API's ``/metrics``, pulled when it is scraped.

With ``--workers N`` every worker process counts requests, latencies, upstream calls, limits and
breakers in its own registry. The supervisor makes a fresh directory only its user may enter
(0700) and gives worker ``i`` the socket ``worker-i.sock`` in it. The worker listens there
(:class:`MetricsEndpoint`, the socket 0600; never a TCP port) and answers every connection with a
JSON snapshot of its registry, then closes it: a connection is the request.

When ``/metrics`` is scraped, :class:`WorkerMetrics` asks every worker at once, each within
``SCRAPE_TIMEOUT``, so a stuck worker delays a scrape by that much at most. What the workers
answer is merged by :class:`~interlink.observe.merge.ProcessMerge` (counters and histograms
added up, gauges per ``worker``, a restarted worker's last totals kept) and added to the admin
process's own metrics. A worker that does not answer is served from its last snapshot, and
``interlink_gateway_worker_up{worker}`` is 0 for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Final

from interlink.errors import ServeError
from interlink.gateway.workers.private_dir import make_private_dir, remove_private_dir
from interlink.observe.merge import ProcessMerge, ProcessSnapshot, decode, encode
from interlink.observe.metrics import Family, Registry

log = logging.getLogger("interlink.gateway")

SCRAPE_TIMEOUT: Final = 1.0  # seconds a worker has to answer a scrape
WRITE_TIMEOUT: Final = 5.0  # seconds a worker waits for a scrape to read its answer
MAX_SNAPSHOT: Final = 64 * 1024 * 1024  # bytes; far above what bounded registries hold
UP: Final = "interlink_gateway_worker_up"
RESTARTS: Final = "interlink_gateway_worker_restarts_total"


class MetricsEndpoint:
    """In a worker: its registry's snapshot to whoever connects to ``path``."""

    def __init__(self, registry: Registry, path: str) -> None:
        self.registry = registry
        self.path = path
        self._server: asyncio.Server | None = None
        self._inode: int | None = None
        self._seq = 0

    async def start(self) -> None:
        """Listen; a failure is logged, and the worker serves without its metrics."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # left by this slot's previous worker, if it was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.path)
            os.chmod(self.path, 0o600)
            self._inode = os.stat(self.path).st_ino
            sock.listen(16)
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(self._answer, sock=sock)
        except OSError as exc:
            sock.close()
            log.warning("gateway worker metrics not served on %s: %s", self.path, exc)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        self._server = None
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:  # still ours: remove it
                os.unlink(self.path)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._seq += 1
        snapshot = ProcessSnapshot(os.getpid(), self._seq, tuple(self.registry.families()))
        try:
            writer.write(encode(snapshot))
            async with asyncio.timeout(WRITE_TIMEOUT):
                await writer.drain()
        except (OSError, TimeoutError):
            pass  # the scrape gave up
        finally:
            writer.close()


class WorkerMetrics:
    """In the supervisor: the sockets' directory, and the workers' metrics merged at a scrape."""

    def __init__(
        self, count: int, *, timeout: float = SCRAPE_TIMEOUT, max_series: int = 1000
    ) -> None:
        self.count = count
        self.timeout = timeout
        self.merge = ProcessMerge(count, max_series=max_series)
        self.directory: str | None = None
        self._pids: list[int | None] = [None] * count
        self._up = [False] * count
        self._restarts = [0] * count

    def open(self) -> None:
        if self.directory is not None:
            return
        try:
            self.directory = make_private_dir("metrics")  # 0700
        except OSError as exc:
            raise ServeError(f"cannot make a private directory for worker metrics: {exc}") from exc

    def path(self, index: int) -> str:
        """Worker ``index``'s socket (0-based; the file and the label count from 1)."""
        assert self.directory is not None, "open() first"
        return os.path.join(self.directory, f"worker-{index + 1}.sock")

    def started(self, index: int, pid: int) -> None:
        """Worker ``index`` is now process ``pid``; only its snapshots are taken from now on."""
        if self._pids[index] is not None:
            self._restarts[index] += 1
        self._pids[index] = pid
        self._up[index] = False

    async def collect(self) -> list[Family]:
        """Every worker's metrics, merged; the collector the admin registry calls at a scrape."""
        answers = await asyncio.gather(*(self._scrape(i) for i in range(self.count)))
        for index, snapshot in enumerate(answers):
            # A snapshot from a worker replaced while it was read is no longer this slot's.
            up = snapshot is not None and snapshot.pid == self._pids[index]
            if snapshot is not None and up:
                self.merge.update(index, snapshot)
            if self._up[index] and not up:
                log.warning("gateway worker %d did not answer a metrics scrape", index + 1)
            self._up[index] = up
        slots = [(str(i + 1),) for i in range(self.count)]
        return [
            *self.merge.families(),
            Family(
                UP,
                "1 when the gateway worker answered the last metrics scrape, else 0 (its series "
                "are then those of its last answer).",
                "gauge",
                ("worker",),
                {slot: float(up) for slot, up in zip(slots, self._up, strict=True)},
            ),
            Family(
                RESTARTS,
                "Times the supervisor started a gateway worker again after it exited.",
                "counter",
                ("worker",),
                {slot: float(n) for slot, n in zip(slots, self._restarts, strict=True)},
            ),
        ]

    async def _scrape(self, index: int) -> ProcessSnapshot | None:
        if self.directory is None or self._pids[index] is None:
            return None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_unix_connection(self.path(index))
                data = bytearray()
                try:
                    while chunk := await reader.read(65536):
                        data += chunk
                        if len(data) > MAX_SNAPSHOT:
                            raise ValueError(f"a snapshot over {MAX_SNAPSHOT} bytes")
                finally:
                    writer.close()
            return decode(bytes(data))
        except (OSError, TimeoutError, ValueError) as exc:
            log.debug("gateway worker %d metrics: %r", index + 1, exc)
            return None

    def close(self) -> None:
        """Remove the directory and whatever sockets are left in it."""
        directory, self.directory = self.directory, None
        remove_private_dir(directory)


__all__ = ["MetricsEndpoint", "WorkerMetrics"]
