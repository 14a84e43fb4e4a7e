"""Several gateway processes on one port: SO_REUSEPORT, and a supervisor that keeps them up.

Each worker binds its own listening socket to the same port and the kernel spreads new
connections across them. The supervisor holds a bound, non-listening socket on the port the
whole time: it fixes the port (also when asked for port 0) and keeps any other program from
taking it between restarts, without receiving connections itself. It forwards reloads as
SIGHUP, restarts a worker that dies, and stops them all gracefully. Their metrics are pulled
from each over a private Unix socket when the admin API is scraped (``workers/metrics.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import replace

from interlink.errors import ServeError
from interlink.gateway.workers.metrics import WorkerMetrics
from interlink.gateway.workers.worker import WorkerOptions

log = logging.getLogger("interlink.gateway")

START_TIMEOUT = 60.0
MAX_BACKOFF = 30.0


class Supervisor:
    def __init__(self, options: WorkerOptions, count: int) -> None:
        self.options = options
        self.count = count
        self._procs: list[asyncio.subprocess.Process | None] = [None] * count
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False
        self.metrics = WorkerMetrics(count)  # their metrics, pulled over private Unix sockets

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p is not None and p.returncode is None]

    async def start(self) -> None:
        """Start every worker and wait until each serves; ServeError if one cannot."""
        try:
            self.metrics.open()
            await asyncio.gather(*(self._spawn(i) for i in range(self.count)))
        except BaseException:
            await self.stop()
            raise
        self._watchers = [asyncio.create_task(self._watch(i)) for i in range(self.count)]

    def reload(self) -> None:
        for proc in self._procs:
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGHUP)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._watchers:
            task.cancel()
        live = [p for p in self._procs if p is not None and p.returncode is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        grace = self.options.limits.shutdown_timeout + 5
        for proc in live:
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
        self.metrics.close()

    async def _spawn(self, index: int) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "interlink.gateway.workers.worker",
            replace(self.options, metrics_socket=self.metrics.path(index)).to_json(),
            stdin=asyncio.subprocess.PIPE,  # closed by our death: the worker then stops
            stdout=asyncio.subprocess.PIPE,
            # Out of the terminal's process group: Ctrl-C reaches the supervisor alone, which
            # then stops the workers itself, instead of racing their exits against a restart.
            start_new_session=True,
        )
        self._procs[index] = proc
        self.metrics.started(index, proc.pid)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            code = await proc.wait()
            raise ServeError(f"gateway worker {index + 1} did not start (exit code {code})")

    async def _watch(self, index: int) -> None:
        backoff = 1.0
        while not self._stopping:
            proc = self._procs[index]
            assert proc is not None
            code = await proc.wait()
            if self._stopping:
                return
            log.error("gateway worker %d exited (code %s); restarting", index + 1, code)
            await asyncio.sleep(backoff)
            try:
                await self._spawn(index)
                backoff = 1.0
            except ServeError as exc:
                log.error("%s; retrying", exc.message)
                backoff = min(backoff * 2, MAX_BACKOFF)
