"""What a connector writes to start flow runs: a polling source or a consumed source.

A **polling source** (a table, an HTTP API, a directory) answers ``poll(cursor, limit)`` with a
:class:`Batch`: up to ``limit`` items after ``cursor`` and the cursor to store once their runs
are recorded. The cursor is any JSON value the source chooses (a number, a timestamp and a
primary key, a page token); ``None`` the first time, when the source starts from its configured
start. An item's ``key`` names it for good (a row's primary key and version, a file's name and
etag): the run it starts gets an id derived from the trigger and the key, so an item polled
again after a crash, or by the node that takes the trigger over, records no second run.

A **consumed source** (AMQP, MQTT with QoS 1, NATS) answers ``receive()`` with a
:class:`Delivery`: the message's key and input and how to ack or nack it. The consumer acks only
once the run is recorded, and nacks when it cannot be, so the broker hands the message out again
and the same key finds the same run.

A source may have an ``async aclose()``; it is awaited when its trigger is removed. A polling
source may have an ``async settle(items)``: it is awaited once the items' runs are recorded and
the cursor stored, for what must wait for that (a watched file moved away); when it fails, the
pass is tried again, and the items' runs, recorded already, are found under their keys.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

#: Item keys and the trigger's id make the runs' ids; fixed, so they survive restarts.
_NAMESPACE: Final = uuid.UUID("3b8f6f0e-2a41-4c8e-9d1f-7a5c2e9b4d60")

#: Anything ``json.dumps`` takes without help: dicts, lists, str, int, float, bool, None.
JSON = Any


@dataclass(frozen=True)
class Item:
    """One thing a polling source found: one run's input, under a key stable for good."""

    key: str
    input: JSON


@dataclass(frozen=True)
class Batch:
    """What one poll found, and the cursor to store once every item's run is recorded.

    ``more`` says the source stopped at ``limit`` with more waiting: the poller polls again at
    once instead of after its interval."""

    items: Sequence[Item] = ()
    cursor: JSON = None
    more: bool = False


@runtime_checkable
class PollingSource(Protocol):
    async def poll(self, cursor: JSON, limit: int) -> Batch:
        """Up to ``limit`` items after ``cursor`` (``None``: from the configured start), and
        the cursor after them. Raise when the source cannot be read: the poller backs off."""
        ...


@dataclass
class Delivery:
    """One message a consumed source received, not yet acked."""

    key: str
    input: JSON
    ack: Callable[[], Awaitable[None]]
    nack: Callable[[], Awaitable[None]] = field(repr=False)
    #: ``ack`` places the ack in its first step (``Received.acks_in_call_order``).
    ordered_ack: bool = False


@runtime_checkable
class ConsumedSource(Protocol):
    async def receive(self) -> Delivery:
        """The next message, waiting for one. Raise when the broker cannot be reached: the
        consumer backs off."""
        ...


def trigger_id(flow: str, name: str) -> str:
    """The id of trigger ``name`` of ``flow``: its checkpoint's key and its runs' namespace."""
    return f"{flow}:{name}"


def item_run_id(trigger: str, key: str) -> str:
    """The id of the run an item starts through a trigger: the same every time."""
    return _uuid5(f"{trigger}\x00{key}")


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(_NAMESPACE, name))`` without building a UUID: asked once per message
    consumed, where the UUID object costs as much as the hash."""
    named = hashlib.sha1(_NAMESPACE.bytes + name.encode(), usedforsecurity=False)  # as uuid5
    digest = bytearray(named.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


async def settle_items(source: object, items: Sequence[Item]) -> None:
    """Await the source's ``settle(items)`` when it has one."""
    settle = getattr(source, "settle", None)
    if settle is not None and items:
        await settle(items)


def batch_run_id(trigger: str, first: str, last: str) -> str:
    """The id of the run a batch from item ``first`` to item ``last`` starts (``each: batch``):
    the same every time, and never an item's run's."""
    return str(uuid.uuid5(_NAMESPACE, f"{trigger}\x00batch\x00{first}\x00{last}"))


async def close_source(source: object) -> None:
    """Await the source's ``aclose()`` when it has one."""
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        await aclose()
