"""``singer``: a Singer tap the user installed, run as a subprocess (``interlink.connectors.taps``).

Discovery is ``tap --config C --discover`` (one JSON catalog on stdout); a read is
``tap --config C --catalog K [--state S]`` (``--properties`` for older taps: ``catalogArg``),
its stdout SCHEMA, RECORD and STATE messages a line each. The catalog read with is the
System's ``catalog`` or the discovered one (discovered once per connection), with only the
trigger's stream selected. A check is a discovery that works; the spec is the tap's
``--about --format json`` settings (taps built with the Singer SDK answer it).

A stream's key is its ``key_properties`` (the SCHEMA message's, else the catalog's
``table-key-properties``) and its version the replication key's value (the catalog's
``replication-key``, else the SCHEMA's one ``bookmark_properties``): see
:func:`~interlink.connectors.taps.record_key`.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from typing import Any

from interlink.connectors.base import Connection, Connector, ConnectorError, StreamRead
from interlink.connectors.taps import (
    TRIGGER,
    CheckResult,
    Records,
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
    name="singer",
    title="Singer tap",
    description="A Singer tap you installed, run as a subprocess: a stream's records start runs.",
    interface="records",
    config=config_schema(
        catalogArg={
            "enum": ["--catalog", "--properties"],
            "default": "--catalog",
            "description": "how the tap takes its catalog: --catalog, or --properties for "
            "older taps",
        }
    ),
    capabilities=(TRIGGER,),
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: github, owner: platform}
spec:
  domain: platform
  connector: singer
  connection:
    command: [/opt/taps/tap-github/bin/tap-github]   # its own virtualenv
    config:
      access_token: ${secret:github-token}
      repositories: [acme/shop]
      start_date: "2024-01-01T00:00:00Z"
""",
)


def _metadata(stream: Mapping[str, Any]) -> dict[str, Any]:
    """The stream's own (top-level breadcrumb) metadata."""
    for entry in stream.get("metadata") or []:
        if isinstance(entry, Mapping) and entry.get("breadcrumb") == []:
            found = entry.get("metadata")
            return dict(found) if isinstance(found, Mapping) else {}
    return {}


def _name(stream: Mapping[str, Any]) -> str:
    return str(stream.get("tap_stream_id") or stream.get("stream") or "")


def _info(stream: Mapping[str, Any]) -> StreamInfo:
    meta = _metadata(stream)
    key = meta.get("table-key-properties") or stream.get("key_properties") or []
    cursor = meta.get("replication-key") or stream.get("replication_key")
    method = meta.get("forced-replication-method") or meta.get("replication-method")
    schema = stream.get("schema")
    fields = schema.get("properties") if isinstance(schema, Mapping) else None
    return StreamInfo(
        _name(stream),
        tuple(str(k) for k in key) if isinstance(key, list) else (),
        (str(cursor),) if isinstance(cursor, str) else (),
        (str(method),) if method else (),
        len(fields) if isinstance(fields, Mapping) else 0,
    )


def _selected(catalog: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``catalog`` with ``name`` the one stream selected (its field selection kept)."""
    out = copy.deepcopy(dict(catalog))
    for stream in out.get("streams") or []:
        chosen = _name(stream) == name
        entries = stream.setdefault("metadata", [])
        top = next((e for e in entries if e.get("breadcrumb") == []), None)
        if top is None:
            top = {"breadcrumb": [], "metadata": {}}
            entries.append(top)
        top.setdefault("metadata", {})["selected"] = chosen
        if isinstance(stream.get("schema"), dict):
            stream["schema"]["selected"] = chosen  # taps of the older catalog format
    return out


class SingerConnection(TapConnection):
    def __init__(self, tap: Tap, catalog: Mapping[str, Any] | None, catalog_arg: str) -> None:
        super().__init__(tap, catalog)
        self.catalog_arg = catalog_arg

    def stream_info(self, stream: Mapping[str, Any]) -> StreamInfo:
        return _info(stream)

    async def _discover(self) -> dict[str, Any]:
        async with self.tap.run(["--config", "{config}", "--discover"], self._files()) as tap:
            found = await tap.document()
        if not isinstance(found, dict) or not isinstance(found.get("streams"), list):
            raise self.tap.error("its --discover output is not a catalog (no streams)")
        return found

    async def _catalog(self) -> Mapping[str, Any]:
        if self.given is not None:
            return self.given
        if self._discovered is None:
            self._discovered = await self._discover()
        return self._discovered

    async def spec(self) -> Mapping[str, Any]:
        try:
            async with self.tap.run(["--about", "--format", "json"], {}) as tap:
                about = await tap.document()
        except Exception as exc:
            raise self.tap.error(
                f"{getattr(exc, 'detail', exc)} (taps built with the Singer SDK answer "
                "--about; see the tap's own documentation for the others)",
                retryable=False,
            ) from None
        settings = about.get("settings") if isinstance(about, dict) else None
        if not isinstance(settings, dict):
            raise self.tap.error("its --about names no settings", retryable=False)
        return settings

    async def check(self) -> CheckResult:
        try:
            catalog = await self.discover()
        except ConnectorError as exc:  # a Singer tap's check is its discovery
            return CheckResult(False, exc.detail)
        names = ", ".join(s.name for s in catalog.streams)
        return CheckResult(True, f"discovered {len(catalog.streams)} streams: {names}")

    async def read_stream(self, stream: str, state: Any, limit: int) -> StreamRead:
        catalog = await self._catalog()
        offered = [s for s in catalog.get("streams") or [] if isinstance(s, Mapping)]
        find_stream(self.system, stream, [_name(s) for s in offered])
        info = _info(next(s for s in offered if _name(s) == stream))
        key, cursor = [[k] for k in info.key], list(info.cursor)
        files = self._files(catalog=_selected(catalog, stream))
        args = ["--config", "{config}", self.catalog_arg, "{catalog}"]
        with_state(args, files, state)
        records = Records(stream, limit)
        more = False
        async with (
            self.tap.run(args, files) as tap,
            contextlib.aclosing(tap.messages()) as messages,
        ):
            async for message in messages:
                kind = message.get("type")
                if kind == "SCHEMA" and message.get("stream") == stream:
                    declared = message.get("key_properties")
                    if isinstance(declared, list) and declared:
                        key = [[str(k)] for k in declared]
                    bookmarks = message.get("bookmark_properties")
                    if not info.cursor and isinstance(bookmarks, list) and len(bookmarks) == 1:
                        cursor = [str(bookmarks[0])]
                elif kind == "RECORD" and message.get("stream") == stream:
                    records.add(tap, message.get("record"), key, cursor)
                elif kind == "STATE":
                    state = message.get("value")
                    if records.confirm():
                        more = True
                        break
                elif not isinstance(kind, str):
                    raise tap.fail("it wrote a line that is no Singer message (no type)")
        return records.read(state, more)


class SingerConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        return SingerConnection(
            Tap.from_config(config, system),
            given_catalog(config),
            str(config.get("catalogArg", "--catalog")),
        )
