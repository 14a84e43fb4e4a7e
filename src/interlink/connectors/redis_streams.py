"""``redis-streams``: Redis streams, through redis-py (asyncio).

``send`` adds an entry (XADD) to the stream ``to``: the body in field ``body``, its content type
in ``content-type``, the headers as a JSON object in ``headers`` and the message's key in
``key``; with ``maxLength``, the stream is trimmed to about that many entries (``MAXLEN ~``).

``subscribe`` reads a stream through a consumer group (XREADGROUP), which it creates when it is
missing (with the stream, MKSTREAM) at the stream's start (``start: earliest``) or end
(``now``). ``ack`` is XACK. An entry not acked stays pending in the group: ``nack`` leaves it
so, and the inbox claims pending entries idle for ``reclaimAfter`` milliseconds (XAUTOCLAIM),
its own nacked ones as well as those of a consumer that died, and hands them out again (so
``reclaimAfter`` is longer than a message takes to be handled: one still being handled when it
runs out is handed out again, and its run, keyed by the entry id, is not started twice). A
message's key is its entry id, the same however often it is handed out.

Nothing blocks for long: a read waits at most ``block`` milliseconds (and no longer than
``reclaimAfter``) before the inbox looks for entries to claim and reads again, every socket has
a timeout, and ``close`` drops the inbox's connections, which ends a read in progress.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors import schemas
from interlink.connectors.base import (
    Connection,
    Connector,
)
from interlink.connectors.spec import Capability, ConnectorSpec

SPEC = ConnectorSpec(
    name="redis-streams",
    title="Redis Streams",
    description="Redis streams (redis-py): XADD to send, consumer groups to receive, pending "
    "entries claimed again.",
    interface="messages",
    config=schemas.connection(
        {
            "host": schemas.host(),
            "port": schemas.port(6379),
            "database": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "database number",
            },
            "username": {
                "type": "string",
                "minLength": 1,
                "description": "ACL user to log in as (default: the default user)",
            },
            "password": schemas.password(),
            "tls": schemas.tls(),
            "maxLength": {
                "type": "integer",
                "minimum": 1,
                "description": "keep each stream it sends to at about this many entries (MAXLEN ~)",
            },
            "connectTimeout": schemas.connect_timeout(
                "seconds to wait for the server (a connection, an answer)"
            ),
        },
        required=["host"],
    ),
    capabilities=(
        Capability(
            "trigger",
            "a Flow's trigger.consume starts a run per stream entry, read through a consumer "
            "group; an entry is acked (XACK) once its run is recorded, one left pending is "
            "claimed again after reclaimAfter",
            {
                "type": "object",
                "properties": {
                    "group": {
                        "type": "string",
                        "description": "the consumer group (default interlink)",
                    },
                    "consumer": {
                        "type": "string",
                        "description": "this consumer's name (default: host, process, random)",
                    },
                    "start": {
                        "enum": ["earliest", "now"],
                        "description": "where a group created now starts (default now)",
                    },
                    "reclaimAfter": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "milliseconds an entry stays pending before it is "
                        "handed out again (default 30000)",
                    },
                    "block": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "milliseconds a read waits for entries (default 2000)",
                    },
                    "batch": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "entries read at once (default 10)",
                    },
                },
            },
        ),
        Capability(
            "write",
            "send steps add an entry (XADD) to a stream",
            schemas.send_to("stream"),
        ),
    ),
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: events-redis, owner: platform}
spec:
  domain: platform
  connector: redis-streams
  connection:
    host: redis.internal.example
    password: ${secret:events-redis-password}
    maxLength: 100000
""",
)


class RedisStreamsConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        from interlink.connectors.redis_streams_client import open_connection  # redis-py: now

        return await open_connection(config, system)
