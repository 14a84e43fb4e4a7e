"""Persistence: one interface, SQLite (embedded default) and PostgreSQL, with migrations.

>>> store = open_store("sqlite:///:memory:")
>>> store.migrate()[0]
'0001'
>>> store.close()
"""

from __future__ import annotations

from urllib.parse import urlsplit

from interlink.errors import ConfigError
from interlink.store.base import (
    ROLE_RANK,
    ROLES,
    Clock,
    ComparisonSummary,
    ConsumerKey,
    ObservedConnection,
    Revision,
    Role,
    Store,
    TokenInfo,
    default_store_url,
    redact_url,
    role_allows,
    utcnow,
)

__all__ = [
    "ROLES",
    "ROLE_RANK",
    "Clock",
    "ComparisonSummary",
    "ConsumerKey",
    "ObservedConnection",
    "Revision",
    "Role",
    "Store",
    "TokenInfo",
    "default_store_url",
    "open_store",
    "redact_url",
    "role_allows",
]

SCHEMES = ("sqlite", "postgresql", "postgres")


def open_store(url: str, *, clock: Clock = utcnow) -> Store:
    """Open the store at ``url``, choosing the backend by scheme; call ``migrate()`` next."""
    scheme = _scheme(url)
    if scheme == "sqlite":
        from interlink.store.sqlite import SQLiteStore

        return SQLiteStore(url, clock=clock)
    if scheme in ("postgresql", "postgres"):
        # Imported on demand so the embedded default never loads libpq.
        from interlink.store.postgres import PostgresStore

        return PostgresStore(url, clock=clock)
    raise ConfigError(
        f"unsupported store URL {redact_url(url)!r}: the scheme must be one of "
        f"{', '.join(s + ':' for s in SCHEMES)}"
    )


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""
