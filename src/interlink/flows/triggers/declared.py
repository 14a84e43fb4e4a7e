"""The triggers an estate declares: a :class:`TriggerSource` per Flow with ``trigger.poll`` or
``trigger.watch`` (files listed through the process's file connections) and ``trigger.consume``.

A table or query polls through the process's SQL connections (one per System); a path polls
over HTTP with the System's base URL and credentials; a stream runs the System's tap (singer,
airbyte) through its connection. A trigger's name is its ``name``, or one
derived from the System and what it polls, so its stored cursor survives reloads and restarts.
A poll trigger whose System is gone or cannot be polled is left out with one log line (`check`
says so with file and line before that). A consume trigger reads through the same
connections (``inbox.py``); its connector options get the trigger's id at ``trigger``, which
names a durable consumer the estate does not name.
"""

from __future__ import annotations

import logging

from interlink.connectors.connections import Connections
from interlink.errors import ConfigError
from interlink.estate.kinds import Api, Flow, System
from interlink.estate.kinds.flow import ConsumeTrigger, PollTrigger, WatchTrigger
from interlink.estate.model import Estate
from interlink.flows.triggers.api import ApiSource
from interlink.flows.triggers.files import WatchSource
from interlink.flows.triggers.inbox import InboxSource
from interlink.flows.triggers.registry import TriggerSource
from interlink.flows.triggers.sources import trigger_id
from interlink.flows.triggers.stream import StreamSource
from interlink.flows.triggers.table import TableSource
from interlink.http.tls import system_tls

log = logging.getLogger("interlink.flows.triggers")


def declared_triggers(estate: Estate, connections: Connections) -> list[TriggerSource]:
    """The estate's poll, watch and consume triggers, sources built."""
    out: list[TriggerSource] = []
    for item in estate.loaded_of("Flow"):
        flow = item.obj
        assert isinstance(flow, Flow)
        trigger = flow.spec.trigger
        if trigger is None:
            continue
        if trigger.watch is not None:
            watched = _watched(estate, flow.name, trigger.watch, connections)
            _keep(out, flow.name, trigger.watch.trigger_name, watched)
        if trigger.consume is not None:
            consume = trigger.consume
            inbox = _inbox(estate, flow.name, consume, connections)
            if isinstance(inbox, str):
                _keep(out, flow.name, consume.trigger_name, inbox)
                continue
            out.append(
                TriggerSource(
                    flow.name, consume.trigger_name, inbox, concurrency=consume.concurrency
                )
            )
        poll = trigger.poll
        if poll is None:
            continue
        source = _source(estate, flow.name, poll, connections)
        _keep(
            out,
            flow.name,
            poll.trigger_name,
            source
            if isinstance(source, str)
            else TriggerSource(
                flow.name,
                poll.trigger_name,
                source,
                interval=poll.interval,
                limit=poll.rows_per_poll,
                each="batch" if poll.per_batch else "row",
            ),
        )
    return out


def _keep(out: list[TriggerSource], flow: str, trigger: str, found: TriggerSource | str) -> None:
    """``found`` added to ``out``; said in one line when it is why the trigger is not run."""
    if isinstance(found, str):
        log.warning("Flow/%s trigger %s is not run: %s", flow, trigger, found)
    else:
        out.append(found)


def _system(estate: Estate, name: str | None) -> System | str:
    """System ``name``, or why there is none."""
    found = estate.get("System", name or "")
    if found is None or not isinstance(found.obj, System):
        return f"no System {name!r} in the estate"
    return found.obj


def _connector(system: System) -> str | None:
    """The connector ``system`` is reached through; None when it has none, or is reached over
    HTTP (its baseUrl)."""
    return None if system.spec.base_url is not None else system.spec.connector_name


def _watched(
    estate: Estate, flow: str, watch: WatchTrigger, connections: Connections
) -> TriggerSource | str:
    """The watch trigger, or why there is none."""
    system = _system(estate, watch.system)
    if isinstance(system, str):
        return system
    connector = _connector(system)
    if connector is None:
        return f"System/{system.name} has no files connector"
    source = WatchSource(
        f"Flow/{flow} trigger {watch.trigger_name}",
        system.name,
        connector,
        system.spec.connection,
        prefix=watch.prefix,
        pattern=watch.pattern,
        format=watch.format,
        then=watch.then,
        move_to=watch.done_folder,
        error_to=watch.error_folder,
        max_bytes=watch.max_bytes,
        flow=flow,
        connections=connections,
    )
    return TriggerSource(
        flow, watch.trigger_name, source, interval=watch.interval, limit=watch.batch
    )


def _inbox(
    estate: Estate, flow: str, consume: ConsumeTrigger, connections: Connections
) -> InboxSource | str:
    """The consumed source, or why there is none."""
    system = _system(estate, consume.system)
    if isinstance(system, str):
        return system
    connector = _connector(system)
    if connector is None:
        return f"System/{system.name} has no connector that receives messages"
    options = {**consume.options, "trigger": trigger_id(flow, consume.trigger_name)}
    return InboxSource(
        system.name,
        connector,
        system.spec.connection,
        consume.source,
        tuple(sorted(options.items())),
        flow=flow,
        connections=connections,
    )


def _source(
    estate: Estate, flow: str, poll: PollTrigger, connections: Connections
) -> TableSource | ApiSource | StreamSource | str:
    """The source, or why there is none."""
    name = poll.system
    if poll.api is not None:
        api = estate.get("Api", poll.api)
        if api is None or not isinstance(api.obj, Api):
            return f"no Api {poll.api!r} in the estate"
        name = api.obj.spec.system
    system = _system(estate, name)
    if isinstance(system, str):
        return system
    if poll.stream is not None:
        connector = system.spec.connector_name
        if connector is None or system.spec.connection is None:
            return f"System/{system.name} runs no tap"
        return StreamSource(
            system.name, connector, system.spec.connection, poll.stream, flow, connections
        )
    if poll.sql:
        connector = _connector(system)
        if connector is None:
            return f"System/{system.name} has no SQL connector"
        return TableSource(
            system.name,
            connector,
            system.spec.connection,
            poll.cursor or "",
            tuple(poll.key or ()),
            table=poll.table,
            query=poll.query,
            start=poll.start,
            flow=flow,
            connections=connections,
        )
    if system.spec.base_url is None:
        return f"System/{system.name} has no baseUrl"
    assert poll.path is not None
    assert poll.items is not None
    assert isinstance(poll.key, str)
    loaded = estate.get("System", system.name)
    try:
        tls = system_tls(loaded) if loaded is not None else None
    except ConfigError as exc:
        return exc.message
    return ApiSource(
        system.name,
        str(system.spec.base_url),
        poll.path,
        poll.items,
        poll.key,
        cursor=poll.cursor,
        param=poll.cursor_param,
        start=poll.start,
        credentials=system.spec.credentials,
        tls=tls,
        flow=flow,
        calls=connections.calls,
    )
