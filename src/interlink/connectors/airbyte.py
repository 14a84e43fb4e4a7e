"""``airbyte``: an Airbyte source the user installed (a container image, a local entry point),
run as a subprocess speaking the Airbyte protocol (``interlink.connectors.taps``).

``spec``, ``check --config C``, ``discover --config C`` and ``read --config C --catalog K
[--state S]``; every message a JSON line: SPEC, CONNECTION_STATUS, CATALOG, RECORD, STATE, LOG
and TRACE (an ERROR trace is the tap's last word when it fails). The configured catalog read
with is built from discovery (once per connection) for the trigger's stream alone:
incremental when the stream supports it, its source-defined cursor and primary key; or the
System's ``catalog``, a configured catalog whose entry for the stream is used.

The state handed back is what the source last sent: per-stream and global STATE messages kept
as a list (the latest per stream), a legacy one as its ``data``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from interlink.connectors.base import Connection, Connector, StreamRead
from interlink.connectors.taps import (
    TRIGGER,
    CheckResult,
    Records,
    Running,
    StreamInfo,
    Tap,
    TapConnection,
    TapSpec,
    config_schema,
    find_stream,
    given_catalog,
    with_state,
)

SPEC = TapSpec(
    name="airbyte",
    title="Airbyte source",
    description="An Airbyte source you installed, run as a subprocess: a stream's records start "
    "runs.",
    interface="records",
    config=config_schema(),
    capabilities=(TRIGGER,),
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: hubspot, owner: sales}
spec:
  domain: sales
  connector: airbyte
  connection:
    command: [docker, run, --rm, -i, --user, "1000", -v, "{files}:{files}",
              airbyte/source-hubspot:4]
    config:
      credentials:
        credentials_title: Private App Credentials
        access_token: ${secret:hubspot-token}
      start_date: "2024-01-01T00:00:00Z"
""",
)

_LEVELS = {
    "FATAL": logging.ERROR,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "INFO": logging.INFO,
}


def _path_list(value: Any) -> list[list[str]]:
    """A primary key as Airbyte writes it (a list of field paths); a bare path or name too."""
    if isinstance(value, str):
        return [[value]]
    if not isinstance(value, list):
        return []
    if all(isinstance(v, str) for v in value):
        return [[str(v)] for v in value]
    return [[str(p) for p in v] for v in value if isinstance(v, list)]


def _info(stream: Mapping[str, Any]) -> StreamInfo:
    schema = stream.get("json_schema")
    fields = schema.get("properties") if isinstance(schema, Mapping) else None
    cursor = stream.get("default_cursor_field")
    return StreamInfo(
        str(stream.get("name") or ""),
        tuple(".".join(p) for p in _path_list(stream.get("source_defined_primary_key"))),
        tuple(str(c) for c in cursor) if isinstance(cursor, list) else (),
        tuple(str(m) for m in stream.get("supported_sync_modes") or ()),
        len(fields) if isinstance(fields, Mapping) else 0,
    )


def _configured(stream: Mapping[str, Any]) -> dict[str, Any]:
    """A configured stream reading ``stream`` incrementally when it can."""
    incremental = "incremental" in (stream.get("supported_sync_modes") or ())
    cursor = stream.get("default_cursor_field") if incremental else None
    return {
        "stream": dict(stream),
        "sync_mode": "incremental" if incremental else "full_refresh",
        "destination_sync_mode": "append",
        "cursor_field": list(cursor) if isinstance(cursor, list) else [],
        "primary_key": _path_list(stream.get("source_defined_primary_key")),
    }


def _merged(cursor: Any, state: Mapping[str, Any]) -> Any:
    """The state to resume from after ``cursor`` and one STATE message's ``state``."""
    kind = state.get("type")
    if kind == "STREAM":
        descriptor = (state.get("stream") or {}).get("stream_descriptor")
        kept = [
            s
            for s in (cursor if isinstance(cursor, list) else [])
            if isinstance(s, Mapping)
            and s.get("type") == "STREAM"
            and (s.get("stream") or {}).get("stream_descriptor") != descriptor
        ]
        return [*kept, dict(state)]
    if kind == "GLOBAL":
        return [dict(state)]
    return state.get("data")  # LEGACY, or a source older than the state types


class AirbyteConnection(TapConnection):
    def stream_info(self, stream: Mapping[str, Any]) -> StreamInfo:
        return _info(stream)

    def _said(self, tap: Running, message: Mapping[str, Any]) -> None:
        """A LOG or an ERROR TRACE message: logged, and kept for the error."""
        if message.get("type") == "LOG":
            logged = message.get("log") or {}
            level = _LEVELS.get(str(logged.get("level", "")).upper(), logging.DEBUG)
            tap.said(str(logged.get("message", "")), level)
        elif message.get("type") == "TRACE":
            trace = message.get("trace") or {}
            if trace.get("type") == "ERROR":
                error = trace.get("error") or {}
                tap.said(str(error.get("message") or error.get("internal_message")), logging.ERROR)

    async def _one(self, args: list[str], files: dict[str, Any], kind: str) -> Mapping[str, Any]:
        """The first ``kind`` message a command sends."""
        async with self.tap.run(args, files) as tap:
            async with contextlib.aclosing(tap.messages()) as messages:
                async for message in messages:
                    if message.get("type") == kind:
                        return message
                    self._said(tap, message)
            raise tap.fail(f"{args[0]} sent no {kind} message")

    async def spec(self) -> Mapping[str, Any]:
        found = (await self._one(["spec"], {}, "SPEC")).get("spec") or {}
        schema = found.get("connectionSpecification")
        if not isinstance(schema, dict):
            raise self.tap.error("its SPEC holds no connectionSpecification", retryable=False)
        return schema

    async def check(self) -> CheckResult:
        found = await self._one(
            ["check", "--config", "{config}"], self._files(), "CONNECTION_STATUS"
        )
        status = found.get("connectionStatus") or {}
        message = self.tap.redact(str(status.get("message") or ""))
        return CheckResult(status.get("status") == "SUCCEEDED", message)

    async def _discover(self) -> dict[str, Any]:
        found = await self._one(["discover", "--config", "{config}"], self._files(), "CATALOG")
        catalog = found.get("catalog")
        if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
            raise self.tap.error("its CATALOG holds no streams", retryable=False)
        return catalog

    async def _configured(self, stream: str) -> dict[str, Any]:
        if self.given is not None:
            entries = [e for e in self.given.get("streams") or [] if isinstance(e, Mapping)]
            names = [str((e.get("stream") or {}).get("name")) for e in entries]
            find_stream(self.system, stream, names)
            return dict(entries[names.index(stream)])
        if self._discovered is None:
            self._discovered = await self._discover()
        offered = [s for s in self._discovered["streams"] if isinstance(s, Mapping)]
        names = [str(s.get("name")) for s in offered]
        find_stream(self.system, stream, names)
        return _configured(offered[names.index(stream)])

    async def read_stream(self, stream: str, state: Any, limit: int) -> StreamRead:
        configured = await self._configured(stream)
        key = _path_list(configured.get("primary_key"))
        incremental = configured.get("sync_mode") == "incremental"
        cursor = [str(c) for c in configured.get("cursor_field") or []] if incremental else []
        files = self._files(catalog={"streams": [configured]})
        args = ["read", "--config", "{config}", "--catalog", "{catalog}"]
        with_state(args, files, state)
        records = Records(stream, limit)
        more = False
        async with (
            self.tap.run(args, files) as tap,
            contextlib.aclosing(tap.messages()) as messages,
        ):
            async for message in messages:
                kind = message.get("type")
                if kind == "RECORD":
                    record = message.get("record") or {}
                    if record.get("stream") != stream:
                        continue
                    records.add(tap, record.get("data"), key, cursor)
                elif kind == "STATE":
                    sent = message.get("state")
                    if isinstance(sent, Mapping):
                        state = _merged(state, sent)
                    if records.confirm():
                        more = True
                        break
                elif isinstance(kind, str):
                    self._said(tap, message)
                else:
                    raise tap.fail("it wrote a line that is no Airbyte message (no type)")
        return records.read(state, more)


class AirbyteConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        return AirbyteConnection(Tap.from_config(config, system), given_catalog(config))
