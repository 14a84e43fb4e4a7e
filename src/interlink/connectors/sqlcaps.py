"""The capabilities every SQL connector has, and the options of their flow steps."""

from __future__ import annotations

from typing import Any

from interlink.connectors import schemas
from interlink.connectors.spec import Capability


def server_config(port: int, login: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The connection schema of a SQL server reached over the network: host, port, database,
    ``login`` (user or role) and its secret password, ``extra`` fields, then the pool's."""
    return schemas.connection(
        {
            "host": schemas.host(),
            "port": schemas.port(port),
            "database": {"type": "string", "minLength": 1, "description": "database name"},
            "user": {"type": "string", "minLength": 1, "description": f"{login} to log in as"},
            "password": schemas.password(login),
            **(extra or {}),
            "poolSize": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "default": 4,
                "description": "most connections this process holds to the System",
            },
            "connectTimeout": schemas.connect_timeout("seconds to wait for a connection"),
        },
        required=["host", "database", "user"],
    )


SQL_CAPABILITIES = (
    Capability(
        "trigger",
        "a Flow's trigger.poll starts a run per new or changed row of a table (or one per "
        "batch of them), read in order of a cursor column and the primary key",
        {
            "type": "object",
            "properties": {
                "table": {"type": "string", "description": "the table (schema.table)"},
                "query": {"type": "string", "description": "a SELECT polled instead"},
                "cursor": {"type": "string", "description": "the growing column"},
                "key": {"type": "array", "items": {"type": "string"}, "description": "the key"},
                "batch": {"type": "integer", "description": "rows per poll"},
                "each": {"enum": ["row", "batch"], "description": "a run per row or per poll"},
            },
            "required": ["cursor", "key"],
        },
    ),
    Capability(
        "read",
        "query steps run a parameterised SELECT and put the rows into the message",
        {
            "type": "object",
            "properties": {
                "sql": {"type": "string", "description": "the statement, :name parameters"},
                "params": {"type": "string", "description": "JSONata giving the parameters"},
                "into": {"type": "string", "description": "message field for the rows"},
                "one": {"type": "boolean", "description": "a single row (or null)"},
                "maxRows": {"type": "integer", "description": "more rows fail the step"},
            },
            "required": ["sql"],
        },
    ),
    Capability(
        "write",
        "write steps insert, upsert or update rows by key, in batches of one transaction each",
        {
            "type": "object",
            "properties": {
                "table": {"type": "string", "description": "the table (schema.table)"},
                "rows": {"type": "string", "description": "JSONata giving the rows"},
                "mode": {"enum": ["insert", "upsert", "update"], "description": "how"},
                "key": {"type": "array", "items": {"type": "string"}, "description": "key"},
                "batchSize": {"type": "integer", "description": "rows per transaction"},
            },
            "required": ["table"],
        },
    ),
    Capability(
        "lookup",
        "a query step with one: true looks a row up by key",
        {"type": "object", "properties": {}},
    ),
)
