"""``http``: a System reached over HTTP at its ``baseUrl``, with its ``credentials``.

Every System with a ``baseUrl`` is one, whether it names the connector or not; flows reach it
through ``call`` and ``enrich`` steps, the gateway through Routes. Its configuration is the
System's own ``baseUrl`` and ``credentials``, so its ``connection`` takes no field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors import schemas
from interlink.connectors.base import Connection, Connector, Unsupported
from interlink.connectors.spec import Capability, ConnectorSpec

SPEC = ConnectorSpec(
    name="http",
    title="HTTP",
    description="A System reached over HTTP at its baseUrl, with its credentials.",
    interface="http",
    config={
        "$schema": schemas.DIALECT,
        "type": "object",
        "description": "nothing: the System's baseUrl and credentials say it all",
        "properties": {},
        "additionalProperties": False,
    },
    capabilities=(
        Capability(
            "trigger",
            "a Flow's trigger.poll GETs a path page by page and starts a run per new item",
        ),
        Capability("read", "enrich steps GET through an Api of the System"),
        Capability(
            "write",
            "call steps send the message (with a saga compensation); check warns of a method "
            "and path none of the System's OpenAPI contracts declares",
        ),
        Capability("lookup", "enrich steps put a record looked up by key into the message"),
    ),
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: erp, owner: finance}
spec:
  domain: finance
  connector: http        # implied by baseUrl
  baseUrl: https://erp.internal.example
  credentials: ${secret:erp-token}
""",
)


class HttpConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        raise Unsupported(
            "an http System is called by call and enrich steps, not through a connection",
            system=system,
        )
