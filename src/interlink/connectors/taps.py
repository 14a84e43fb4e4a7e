"""What the ``singer`` and ``airbyte`` connectors share: a tap run as a subprocess the user
installed, never imported.

A System's ``command`` is the tap's argv (its executable in the user's own virtualenv, a local
entry point, ``docker run … image``); each operation runs it once with the protocol's
arguments. Its ``config`` is written to a file in a private directory (mode 0700, the files
0600), with the state and catalog beside it, and the directory is deleted when the tap ends;
``{files}`` in the command is that directory (for a container's volume). The tap gets a small
environment (``PATH``, ``HOME``, the locale, Docker's variables) and the System's ``env``, never
the whole environment of the process, which holds its secrets.

Its stdout is read a JSON message a line; its stderr is logged a line at a time (and its last
lines kept for the error when it fails), with every resolved secret of the System scrubbed. A tap
that exits non-zero, writes a line that is not JSON, or sends nothing for ``timeout`` seconds is
a :class:`ConnectorError` naming the System and the tap, with its last words. Stopping it early
(a poll that has read enough) is SIGTERM to its process group, then SIGKILL after a grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import tempfile
from abc import abstractmethod
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from interlink.connectors import schemas
from interlink.connectors.base import (
    Connection,
    ConnectorError,
    ObjectNotFound,
    StreamRead,
    StreamRecord,
)
from interlink.connectors.spec import Capability, ConnectorSpec, Problem
from interlink.estate.hints import did_you_mean
from interlink.estate.references import REDACTED, is_reference

log = logging.getLogger("interlink.connectors.taps")

#: The longest line read from a tap: one record.
LINE_LIMIT: Final = 32 * 1024 * 1024
#: The seconds a tap told to stop has before it is killed.
STOP_GRACE: Final = 5.0
#: The tap's last stderr (or log) lines an error quotes.
LAST_WORDS: Final = 5
#: The variables of this process a tap inherits; the rest (secrets among them) it never sees.
INHERITED: Final = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SYSTEMROOT",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "XDG_RUNTIME_DIR",
)
#: The placeholder in a command replaced by the tap's private directory.
FILES: Final = "{files}"
#: Launchers whose own name says nothing of the tap: the tap is named by its last argument.
_LAUNCHERS: Final = frozenset(
    {"docker", "podman", "python", "python3", "uv", "uvx", "pipx", "sh", "bash", "env"}
)


def config_schema(**extra: Any) -> dict[str, Any]:
    """The ``connection`` schema of a tap connector, with its own ``extra`` fields."""
    return schemas.connection(
        {
            "command": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "description": "the tap's argv, as installed by you: its executable in its own "
                "virtualenv, a local entry point, or docker run … image; {files} in it is the "
                "private directory of the config, state and catalog files",
            },
            "config": {
                "type": "object",
                "default": {},
                "description": "the tap's config, written to a private file (mode 0600) for "
                "each run and deleted after; give its secrets as ${secret:NAME} references",
            },
            "catalog": {
                "type": "object",
                "description": "the catalog to read with, instead of the one the tap "
                "discovers (the trigger's stream is selected in it)",
            },
            "env": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "default": {},
                "description": "environment variables for the tap, besides PATH, HOME, the "
                "locale and Docker's: it never sees the rest of the process's environment",
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 86400,
                "default": 300,
                "description": "seconds the tap may go without a message before it is "
                "stopped as hung",
            },
            **extra,
        },
        required=["command"],
    )


#: What a tap connector offers: its streams' records start runs.
TRIGGER: Final = Capability(
    "trigger",
    "a Flow's trigger.poll reads a stream from the last STATE and starts a run per record",
)


#: A setting of a tap's config or env whose name says it holds a secret.
_SECRET_NAME: Final = re.compile(
    r"(^|_)(password|passwd|passphrase|secret|token|api_?key|private_?key|secret_?key|"
    r"access_?key|secret_access_key|credentials?)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TapSpec(ConnectorSpec):
    """A tap connector's spec: its ``config`` and ``env`` are the tap's own settings, whose
    schema the estate does not know, so a setting named like a secret (``password``,
    ``access_token``, ``api_key``, ``client_secret``…) must be a reference there too."""

    def problems(self, connection: Mapping[str, Any]) -> list[Problem]:
        found = list(super().problems(connection))
        for part in ("config", "env"):
            value = connection.get(part)
            if isinstance(value, Mapping):
                found += _plain_secrets(value, (part,))
        return found


def _plain_secrets(value: Any, at: tuple[str | int, ...]) -> list[Problem]:
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _plain_secrets(v, (*at, i))]
    if not isinstance(value, Mapping):
        return []
    out: list[Problem] = []
    for name, item in value.items():
        if isinstance(item, str) and item and _SECRET_NAME.search(str(name)):
            if not is_reference(item):
                out.append(
                    (
                        (*at, str(name)),
                        "is named like a secret: give it as a ${secret:NAME} reference, never "
                        "the value",
                    )
                )
        else:
            out += _plain_secrets(item, (*at, str(name)))
    return out


def tap_name(command: Sequence[str]) -> str:
    """The tap as messages name it: its executable, or a launcher and its last argument."""
    first = Path(command[0]).name
    if (first in _LAUNCHERS or first.startswith("python")) and len(command) > 1:
        return f"{first} … {Path(command[-1]).name}"
    return first


class Redactor:
    """Scrubs the System's resolved secrets (and their JSON-escaped forms) from text."""

    def __init__(self, secrets: Collection[str] = ()) -> None:
        forms = {s for s in secrets if s} | {json.dumps(s)[1:-1] for s in secrets if s}
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, REDACTED)
        return text


@dataclass(frozen=True)
class StreamInfo:
    """A stream a tap offers: its name, key, replication key and ways of reading it."""

    name: str
    key: tuple[str, ...] = ()
    cursor: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    fields: int = 0


@dataclass(frozen=True)
class Catalog:
    """What a tap's discovery found: its streams, and the catalog as the tap wrote it."""

    streams: tuple[StreamInfo, ...]
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class CheckResult:
    """Whether the tap reached its source, and what it said."""

    ok: bool
    message: str


@dataclass
class Tap:
    """How to run one System's tap: its argv, config, environment and limits."""

    system: str
    command: tuple[str, ...]
    config: Mapping[str, Any]
    env: Mapping[str, str]
    timeout: float
    redact: Redactor = field(default_factory=Redactor)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], system: str) -> Tap:
        """The tap of a System's resolved ``connection``."""
        return cls(
            system,
            tuple(str(part) for part in config["command"]),
            dict(config.get("config") or {}),
            dict(config.get("env") or {}),
            float(config.get("timeout", 300)),
        )

    @property
    def name(self) -> str:
        """The tap as messages name it (a secret in its argv scrubbed)."""
        return self.redact(tap_name(self.command))

    def error(self, message: str, *, retryable: bool = True) -> ConnectorError:
        return ConnectorError(
            self.redact(message), system=self.system, object=self.name, retryable=retryable
        )

    def environment(self) -> dict[str, str]:
        inherited = {k: os.environ[k] for k in INHERITED if k in os.environ}
        return {**inherited, **{k: str(v) for k, v in self.env.items()}}

    @contextlib.asynccontextmanager
    async def run(self, args: Sequence[str], files: Mapping[str, Any]) -> AsyncIterator[Running]:
        """The tap running with ``args``, where ``{name}`` is the path of the file ``files``
        gives (JSON written mode 0600); stopped, and its files deleted, on leaving."""
        directory = Path(tempfile.mkdtemp(prefix="interlink-tap-"))  # mode 0700
        try:
            paths = {
                name: _write_private(directory / f"{name}.json", content)
                for name, content in files.items()
            }
            argv = [part.replace(FILES, str(directory)) for part in self.command]
            argv += [str(paths.get(a[1:-1], a)) if a.startswith("{") else a for a in args]
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=self.environment(),
                    limit=LINE_LIMIT,
                    start_new_session=True,  # its own process group: stopped whole
                )
            except OSError as exc:
                raise self.error(
                    f"the tap cannot be started: {exc.strerror or exc}", retryable=False
                ) from None
            running = Running(self, process)
            try:
                yield running
            finally:
                await running.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def _write_private(path: Path, content: Any) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(content, out)
    return path


class Running:
    """A tap's process: its stdout as messages, its stderr logged."""

    def __init__(self, tap: Tap, process: asyncio.subprocess.Process) -> None:
        self.tap = tap
        self.process = process
        self.last_words: deque[str] = deque(maxlen=LAST_WORDS)
        self.stopped = False
        self._stderr = asyncio.create_task(self._log_stderr())

    def said(self, line: str, level: int = logging.INFO) -> None:
        """A line the tap said (stderr, a log message): logged, and kept for its error."""
        text = self.tap.redact(line.rstrip())
        if not text:
            return
        self.last_words.append(text)
        log.log(level, "System/%s (%s): %s", self.tap.system, self.tap.name, text)

    async def _log_stderr(self) -> None:
        assert self.process.stderr is not None
        while True:
            try:
                line = await self.process.stderr.readline()
            except ValueError:  # a line longer than the limit: skip the rest of it
                continue
            if not line:
                return
            self.said(line.decode("utf-8", "replace"))

    async def messages(self) -> AsyncGenerator[dict[str, Any]]:
        """Each JSON object the tap writes, a line at a time, until it exits (non-zero: an
        error)."""
        assert self.process.stdout is not None
        number = 0
        while True:
            line = await self._line()
            if not line:
                break
            number += 1
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                text = line.decode("utf-8", "replace").strip()
                raise self.fail(
                    f"line {number} of its output is not JSON: {text[:60]!r}", retryable=False
                ) from None
            if not isinstance(message, dict):
                raise self.fail(f"line {number} of its output is not a JSON object")
            yield message
        await self.exited()

    async def document(self) -> Any:
        """The one JSON document the tap writes (discovery, --about), once it exits."""
        assert self.process.stdout is not None
        chunks = []
        while line := await self._line():
            chunks.append(line)
        await self.exited()
        text = b"".join(chunks).decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            raise self.fail(f"its output is not JSON: {text.strip()[:60]!r}") from None

    async def _line(self) -> bytes:
        assert self.process.stdout is not None
        try:
            return await asyncio.wait_for(self.process.stdout.readline(), self.tap.timeout)
        except TimeoutError:
            raise self.fail(f"it sent nothing for {self.tap.timeout:g}s: stopped") from None
        except ValueError:
            raise self.fail(f"it wrote a line longer than {LINE_LIMIT} bytes") from None

    async def exited(self) -> None:
        """Wait for the tap's exit; an error when its status is not 0."""
        code = await self.process.wait()
        await self._drain()
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            raise self.fail(f"the tap {how}")

    def fail(self, message: str, *, retryable: bool = True) -> ConnectorError:
        words = " | ".join(self.last_words)
        return self.tap.error(
            message + (f"; its last words: {words}" if words else ""), retryable=retryable
        )

    async def _drain(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._stderr), STOP_GRACE)

    async def stop(self) -> None:
        """End the tap if it still runs: SIGTERM to its group, SIGKILL after the grace."""
        if self.process.returncode is None:
            self.stopped = True
            _signal(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_GRACE)
            except TimeoutError:
                _signal(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        await self._drain()
        self._stderr.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._stderr


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def find_stream(system: str, name: str, streams: Sequence[str]) -> None:
    """ObjectNotFound when ``name`` is not among the tap's ``streams``."""
    if name in streams:
        return
    hint = did_you_mean(name, streams)
    raise ObjectNotFound(
        f"the tap has no stream {name!r}"
        + (f" ({hint})" if hint else "")
        + f"; it offers: {', '.join(streams) or 'none'}",
        system=system,
        object=name,
    )


def record_key(
    stream: str, data: Mapping[str, Any], key: Sequence[Sequence[str]], cursor: Sequence[str]
) -> str:
    """A record's stable key: the stream, its primary key's values and its version (the
    replication key's value, or without one a digest of the record); a digest of the whole
    record when the stream has no primary key."""

    def at(path: Sequence[str]) -> Any:
        value: Any = data
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    digest = hashlib.sha256(_canonical(data).encode()).hexdigest()[:32]
    if not key:
        return f"{stream}:#{digest}"
    values = _canonical([at(path) for path in key])
    version = _canonical(at(cursor)) if cursor else f"#{digest}"
    return f"{stream}:{values}@{version}"


def _canonical(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


class TapConnection(Connection):
    """A System whose tap runs as a subprocess: its spec, check and discovery for the CLI, and
    the records of a stream for poll triggers. ``given`` is the System's own ``catalog``;
    without one the discovered catalog is kept for the connection's reads."""

    def __init__(self, tap: Tap, given: Mapping[str, Any] | None) -> None:
        self.tap = tap
        self.system = tap.system
        self.given = given
        self._discovered: dict[str, Any] | None = None

    def hide(self, secrets: Collection[str]) -> None:
        self.tap.redact = Redactor(secrets)

    def _files(self, **more: Any) -> dict[str, Any]:
        """The files of a run: the tap's config, and ``more``."""
        return {"config": dict(self.tap.config), **more}

    @abstractmethod
    async def spec(self) -> Mapping[str, Any]:
        """The JSON Schema of the tap's config, as the tap declares it."""

    @abstractmethod
    async def check(self) -> CheckResult:
        """Whether the tap reaches its source with this config."""

    @abstractmethod
    async def _discover(self) -> dict[str, Any]:
        """The catalog the tap discovers, as it writes it (a list of ``streams`` in it)."""

    @abstractmethod
    def stream_info(self, stream: Mapping[str, Any]) -> StreamInfo:
        """What a stream of the discovered catalog says of itself."""

    async def discover(self) -> Catalog:
        """The streams the tap offers."""
        self._discovered = await self._discover()
        streams = [s for s in self._discovered["streams"] if isinstance(s, Mapping)]
        return Catalog(tuple(self.stream_info(s) for s in streams), self._discovered)

    async def close(self) -> None:
        return None  # a tap runs only for the length of an operation


def unconfirmed_limit(limit: int) -> int:
    """The records a read holds with no state confirming them before it fails: a tap that
    never says where it is would otherwise be read whole into memory."""
    return max(limit * 20, 10_000)


def given_catalog(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``catalog`` of a System's ``connection``, when it gives one."""
    catalog = config.get("catalog")
    return catalog if isinstance(catalog, Mapping) else None


def with_state(args: list[str], files: dict[str, Any], state: Any) -> None:
    """``--state`` and its file added to a read's ``args`` and ``files`` when it resumes."""
    if state is not None:
        files["state"] = state
        args += ["--state", "{state}"]


class Records:
    """The records a read of ``stream`` gathers: those a STATE confirmed, and those after it."""

    def __init__(self, stream: str, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.confirmed: list[StreamRecord] = []
        self.pending: list[StreamRecord] = []

    def add(
        self, tap: Running, data: Any, key: Sequence[Sequence[str]], cursor: Sequence[str]
    ) -> None:
        """A RECORD's ``data``, an error when it is no object or no STATE came for too long."""
        if not isinstance(data, dict):
            raise tap.fail(f"a RECORD of {self.stream} holds no object", retryable=False)
        self.pending.append(StreamRecord(record_key(self.stream, data, key, cursor), data))
        if len(self.pending) > unconfirmed_limit(self.limit):
            raise tap.fail(
                f"it sent {len(self.pending)} records of {self.stream} with no STATE after them",
                retryable=False,
            )

    def confirm(self) -> bool:
        """A STATE confirms the records before it; whether the read has its ``limit``."""
        self.confirmed += self.pending
        self.pending = []
        return len(self.confirmed) >= self.limit

    def read(self, state: Any, more: bool) -> StreamRead:
        return StreamRead([*self.confirmed, *self.pending], state, more)
