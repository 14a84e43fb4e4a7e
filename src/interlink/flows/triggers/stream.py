"""A polling source over a stream of a tap (a Singer tap, an Airbyte source): a run per record.

Each poll runs the tap from the stored state (the cursor: the last STATE it sent; none the
first time, when the tap starts from its own config's start) and stops it at the first STATE
after ``limit`` records of the stream, that STATE the new cursor. Records the tap sent after
its last STATE are runs now and are read again next time (at least once): their keys (the
stream's primary key and version, or a digest of the record, see
``interlink.connectors.taps.record_key``) find the runs already recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from interlink.connectors.connections import Connections
from interlink.flows.triggers.sources import JSON, Batch, Item


@dataclass(frozen=True)
class StreamSource:
    """Polls ``stream`` of ``system``'s tap through the process's connections."""

    system: str
    connector: str
    connection: Mapping[str, Any] | None
    stream: str
    flow: str | None = None  # the flow it feeds: its calls are counted under it
    connections: Connections = field(default_factory=Connections, compare=False, repr=False)

    async def poll(self, cursor: JSON, limit: int) -> Batch:
        connection = await self.connections.get(
            self.system, self.connector, self.connection, caller=self.flow
        )
        read = await connection.read_stream(self.stream, cursor, limit)
        items = [Item(record.key, record.data) for record in read.records]
        return Batch(items, read.state, more=read.more)
