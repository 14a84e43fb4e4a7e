"""The delivery queue for a store URL: SQLite's or PostgreSQL's, chosen by the scheme."""

from __future__ import annotations

from urllib.parse import urlsplit

from interlink.errors import ConfigError
from interlink.events.delivery.queue import DeliveryQueue
from interlink.events.delivery.queue_postgres import PostgresDeliveryQueue
from interlink.events.delivery.queue_sqlite import SQLiteDeliveryQueue
from interlink.store.base import redact_url


def open_queue(url: str) -> DeliveryQueue:
    """The queue in the store database at ``url`` (call ``await queue.open()`` next)."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme == "sqlite":
        return SQLiteDeliveryQueue(url)
    if scheme in ("postgresql", "postgres"):
        return PostgresDeliveryQueue(url)
    raise ConfigError(f"unsupported store URL {redact_url(url)!r} for the delivery queue")
