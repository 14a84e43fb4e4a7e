"""Persistence: one database (SQLite, the embedded default, or PostgreSQL) and a repository per
concern over it, each with its migrations beside it.

>>> store = open_store("sqlite:///:memory:")
>>> store.migrate()[0]
'0001'
>>> store.revisions.latest() is None
True
>>> store.close()
"""

from __future__ import annotations

from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit

from interlink.errors import ConfigError
from interlink.store.admin_tokens import (
    ROLE_RANK,
    ROLES,
    TEAM_ROLES,
    AdminTokens,
    LastAdmin,
    Role,
    TokenInfo,
    as_role,
    check_admin_token_name,
    role_allows,
    token_lifetime,
)
from interlink.store.alerts import Alert, AlertBook, Notification, Silence
from interlink.store.audit import (
    ACTIONS,
    Action,
    Actor,
    AuditEntry,
    AuditFilter,
    AuditLog,
    Outcome,
    Verdict,
)
from interlink.store.base import Clock, default_store_url, redact_url, utcnow
from interlink.store.client_assertions import ClientAssertions
from interlink.store.comparisons import ComparisonSummary, ShadowComparisons
from interlink.store.connections import (
    ObservedCall,
    ObservedCalls,
    ObservedConnection,
    ObservedConnections,
    ObservedLink,
    ObservedLinks,
)
from interlink.store.console_links import LINK_LIFETIME, ConsoleLinks, LinkRefused
from interlink.store.console_sessions import ConsoleSession, ConsoleSessions, SessionExpired
from interlink.store.consumer_keys import ConsumerKey, ConsumerKeys
from interlink.store.database import Database
from interlink.store.leases import Lease, Leases
from interlink.store.lineage import Hop, LineageHops
from interlink.store.nodes import Node, Nodes
from interlink.store.platform_keys import PlatformKey, PlatformKeys, Resealed
from interlink.store.postgres import PostgresDatabase
from interlink.store.revisions import Revision, Revisions
from interlink.store.secrets import SealedSecret, SecretRows, SecretSummary
from interlink.store.sign_in_failures import SignInFailures
from interlink.store.signals import Bucket, MonitorState, MonitorStates, SignalBuckets, SignalRow
from interlink.store.sqlite import SQLiteDatabase

__all__ = [
    "ACTIONS",
    "LINK_LIFETIME",
    "ROLES",
    "ROLE_RANK",
    "TEAM_ROLES",
    "Action",
    "Actor",
    "Alert",
    "AlertBook",
    "AuditEntry",
    "AuditFilter",
    "AuditLog",
    "Bucket",
    "ClientAssertions",
    "Clock",
    "ComparisonSummary",
    "ConsoleLinks",
    "ConsoleSession",
    "ConsoleSessions",
    "ConsumerKey",
    "Database",
    "Hop",
    "LastAdmin",
    "Lease",
    "Leases",
    "LinkRefused",
    "MonitorState",
    "Node",
    "Notification",
    "ObservedCall",
    "ObservedConnection",
    "ObservedLink",
    "Outcome",
    "PlatformKey",
    "PlatformKeys",
    "Resealed",
    "Revision",
    "Role",
    "SealedSecret",
    "SecretSummary",
    "SessionExpired",
    "SignInFailures",
    "SignalRow",
    "Silence",
    "Store",
    "TokenInfo",
    "Verdict",
    "as_role",
    "check_admin_token_name",
    "default_store_url",
    "open_database",
    "open_store",
    "redact_url",
    "role_allows",
    "token_lifetime",
]

SCHEMES: Final = ("sqlite", "postgresql", "postgres")


class Store:
    """Durable state shared by the runtime, the admin API and the CLI: the database and one
    repository per concern. Synchronous and safe to call from several threads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.revisions = Revisions(db)
        self.tokens = AdminTokens(db)
        self.consumer_keys = ConsumerKeys(db)
        self.connections = ObservedConnections(db)
        self.connector_calls = ObservedCalls(db)
        self.links = ObservedLinks(db)
        self.comparisons = ShadowComparisons(db)
        self.nodes = Nodes(db)
        self.leases = Leases(db)
        self.signals = SignalBuckets(db)
        self.monitor_states = MonitorStates(db)
        self.alerts = AlertBook(db)
        self.lineage = LineageHops(db)
        self.audit = AuditLog(db)
        self.secrets = SecretRows(db)
        self.platform_keys = PlatformKeys(db)
        self.client_assertions = ClientAssertions(db)
        self.console_sessions = ConsoleSessions(db)
        self.console_links = ConsoleLinks(db)
        self.sign_in_failures = SignInFailures(db)

    @property
    def url(self) -> str:
        """The store URL, password redacted, fit for logs and messages."""
        return self.db.url

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the versions this call applied (empty if none)."""
        return self.db.migrate()

    def ping(self) -> None:
        """Return if the database answers, else raise ``StoreUnavailable``."""
        self.db.ping()

    def close(self) -> None:
        """Release connections; safe to call twice."""
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


def open_database(url: str, *, clock: Clock = utcnow) -> Database:
    """The database at ``url``, its dialect chosen by the scheme."""
    scheme = _scheme(url)
    if scheme == "sqlite":
        return SQLiteDatabase(url, clock=clock)
    if scheme in ("postgresql", "postgres"):
        return PostgresDatabase(url, clock=clock)
    raise ConfigError(
        f"unsupported store URL {redact_url(url)!r}: the scheme must be one of "
        f"{', '.join(s + ':' for s in SCHEMES)}"
    )


def open_store(url: str, *, clock: Clock = utcnow) -> Store:
    """Open the store at ``url``; call ``migrate()`` next."""
    return Store(open_database(url, clock=clock))


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""
