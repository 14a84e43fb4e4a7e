"""Connectors: how flows reach Systems that are not HTTP APIs (databases, file stores, brokers,
taps, mail, chat), one module per connector, each with its :class:`ConnectorSpec`.

- :mod:`.spec`: what a connector declares (config JSON Schema, capabilities, docs)
- :mod:`.base`: the interface a connector implements, and its errors
- :mod:`.registry`: the built-ins and the ``interlink.connectors`` entry points
- :mod:`.connections`: one open connection per System per process
"""

from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    Connector,
    ConnectorError,
    ConstraintViolation,
    ObjectNotFound,
    StatementError,
    Unsupported,
    WriteMode,
)
from interlink.connectors.spec import Capability, ConnectorSpec

__all__ = [
    "Capability",
    "Connection",
    "ConnectionFailed",
    "Connector",
    "ConnectorError",
    "ConnectorSpec",
    "ConstraintViolation",
    "ObjectNotFound",
    "StatementError",
    "Unsupported",
    "WriteMode",
]
