"""Run the real `interlink` entry point in a child process, for end-to-end tests."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

TOKEN = re.compile(r"\b(il_[a-z0-9]+_[A-Za-z0-9_-]+)")


#: Where free_port() looks: below the kernel's ephemeral ports (32768 and up on Linux), which any
#: bind to port 0 or outgoing connection, of this process or another, may be handed at any time.
_FREE_PORTS: Final = range(20000, 32768)
_chooser = random.Random()  # seeded here, not by a test that seeds the module's generator


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return _FREE_PORTS.stop


def free_port() -> int:
    """A loopback port free now, for a server started a moment later. Chosen at random outside
    the ephemeral range, so that in between no port-0 bind or outgoing connection (as when the
    suite runs on several workers) is given it; the kernel's choice only when none is found."""
    stop = min(_FREE_PORTS.stop, _ephemeral_low())
    for _ in range(50 if stop > _FREE_PORTS.start else 0):
        port = _chooser.randrange(_FREE_PORTS.start, stop)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def interlink_command() -> list[str]:
    """The installed console script beside this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("interlink")
    return [str(script)] if script.exists() else [sys.executable, "-m", "interlink.cli.main"]


class InterlinkProcess:
    """`interlink ARGS…` in the background; output is collected as it arrives."""

    def __init__(
        self, args: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def start(self) -> InterlinkProcess:
        self.proc = subprocess.Popen(
            [*interlink_command(), *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=self.cwd,
            bufsize=1,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first match of ``pattern`` in the output; fails if the process exits first,
        and stops it and fails if ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            match = regex.search(self.output)
            if match:
                return match
            if self.proc is not None and self.proc.poll() is not None:
                time.sleep(0.1)  # let the pump read the last lines
                match = regex.search(self.output)
                if match:
                    return match
                raise AssertionError(
                    f"process exited ({self.proc.returncode}) before {pattern!r}:\n{self.output}"
                )
            time.sleep(0.05)
        # A process that never got there is of no more use: left running, it would outlive
        # the failed test and hold its ports and CPU until the whole run ends.
        self.stop(timeout=5.0)
        raise AssertionError(f"timed out waiting for {pattern!r}:\n{self.output}")

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self, timeout: float = 15.0) -> int:
        """SIGKILL, as a crash or the OOM killer would: no shutdown code runs. Returns the exit
        code (minus the signal number)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; SIGKILL if it does not stop in time. Returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> InterlinkProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_interlink(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*interlink_command(), *args],
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
