"""The persistence interface: records, roles, admin-token format and the abstract ``Store``."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, Self, get_args
from urllib.parse import urlsplit

from interlink.errors import ConfigError

Role = Literal["viewer", "operator", "admin"]
ROLE_RANK: Final[Mapping[Role, int]] = MappingProxyType({"viewer": 0, "operator": 1, "admin": 2})
ROLES: Final[tuple[Role, ...]] = get_args(Role)

Clock = Callable[[], datetime]
"""Returns the current time, UTC-aware; injectable so token-use throttling is testable."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def role_allows(have: Role, need: Role) -> bool:
    """True when a credential with role ``have`` may do what needs role ``need``."""
    return ROLE_RANK[have] >= ROLE_RANK[need]


def as_role(value: str) -> Role:
    """Narrow a string to a :data:`Role`, or raise ``ConfigError`` naming the valid ones."""
    for role in ROLES:
        if value == role:
            return role
    raise ConfigError(f"unknown role {value!r}: use one of {', '.join(ROLES)}")


@dataclass(frozen=True)
class Revision:
    """One applied estate revision.

    ``summary`` is what the caller says changed; ``object_hashes`` maps each object key
    (``"System/crm"``) to its content hash so the next revision can be diffed after a restart.
    """

    id: int
    hash: str
    applied_at: datetime
    applied_by: str
    source: str
    summary: dict[str, Any]
    object_hashes: dict[str, str]


@dataclass(frozen=True)
class TokenInfo:
    """What is known about an admin token; never the token itself."""

    id: str
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


@dataclass(frozen=True)
class ConsumerKey:
    """A Consumer's API key as stored: its id, owner, lifetime and SHA-256 digest, never itself."""

    id: str
    consumer: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    digest: str = field(repr=False)

    def usable(self, now: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


# Admin tokens look like ``il_<id>_<secret>``. The id has no "_" so the token splits
# unambiguously (the url-safe secret may contain "_"); it is shown in listings and is not secret.
TOKEN_PREFIX: Final = "il_"  # noqa: S105 - a format marker, not a credential
TOKEN_ID_LENGTH: Final = 8
TOKEN_SECRET_BYTES: Final = 32
TOKEN_TOUCH_INTERVAL: Final = timedelta(minutes=1)
_TOKEN_ID_ALPHABET: Final = string.ascii_lowercase + string.digits
# Consumer API keys (the gateway's credentials for partners and apps) share the format with
# another prefix, so a key pasted where an admin token is expected is told apart at a glance.
KEY_PREFIX: Final = "ik_"


@dataclass(frozen=True)
class ObservedConnection:
    """Requests a consumer sent through a route to an upstream System within one UTC hour.

    ``consumer`` is "" for requests no authentication named a consumer for.
    """

    hour: datetime  # the start of the hour, UTC
    consumer: str
    route: str
    system: str
    count: int


@dataclass(frozen=True)
class ComparisonSummary:
    """A route's shadow comparisons since a time: counts and the fields differing most often."""

    route: str
    since: datetime
    compared: int
    matched: int
    fields: list[tuple[str, int]]  # (field, mismatches), most frequent first

    @property
    def match_rate(self) -> float | None:
        """Matched out of compared, 0 to 1; None when nothing was compared."""
        return self.matched / self.compared if self.compared else None


def hour_start(value: datetime) -> datetime:
    """The UTC hour ``value`` falls in."""
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _token_re(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"{prefix}(?P<id>[a-z0-9]{{{TOKEN_ID_LENGTH}}})_[A-Za-z0-9_-]{{43,128}}")


_TOKEN_RES: Final = {TOKEN_PREFIX: _token_re(TOKEN_PREFIX), KEY_PREFIX: _token_re(KEY_PREFIX)}


@dataclass(frozen=True)
class NewToken:
    id: str
    plaintext: str
    digest: str

    def __repr__(self) -> str:
        return f"NewToken(id={self.id!r})"


def new_token(prefix: str = TOKEN_PREFIX) -> NewToken:
    token_id = "".join(secrets.choice(_TOKEN_ID_ALPHABET) for _ in range(TOKEN_ID_LENGTH))
    plaintext = f"{prefix}{token_id}_{secrets.token_urlsafe(TOKEN_SECRET_BYTES)}"
    return NewToken(token_id, plaintext, token_digest(plaintext))


def token_digest(plaintext: str) -> str:
    # A plain SHA-256 is enough: the secret carries 256 random bits, so guessing a preimage is
    # infeasible however fast the hash is. Slow KDFs (bcrypt, argon2) exist to protect
    # low-entropy passwords and would only add CPU cost to every authenticated request.
    return hashlib.sha256(plaintext.encode()).hexdigest()


def token_id_of(plaintext: str, prefix: str = TOKEN_PREFIX) -> str | None:
    """The id part of a well-formed token, or None when it cannot be one of ours."""
    pattern = _TOKEN_RES[prefix]
    match = pattern.fullmatch(plaintext) if isinstance(plaintext, str) else None
    return match.group("id") if match else None


def digest_matches(plaintext: str, stored_digest: str) -> bool:
    return hmac.compare_digest(token_digest(plaintext), stored_digest)


def token_touch_due(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether ``last_used_at`` is stale enough to be rewritten (at most once a minute)."""
    return last_used_at is None or now - last_used_at >= TOKEN_TOUCH_INTERVAL


def dump_json(value: Mapping[str, Any]) -> str:
    """Serialize before touching the database so both backends fail the same way on bad data."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def check_page(limit: int) -> None:
    if limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")


def check_token_name(name: str) -> str:
    if not name.strip():
        raise ConfigError("a token needs a non-empty name")
    return name.strip()


_PASSWORD_PARAM = re.compile(r"(^|&)(password=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with any password (user-info or ``password=`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    # Edit the original text: urlunsplit would drop the empty authority of sqlite:///path.
    redacted = url
    userinfo, at, hostinfo = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        masked = f"{userinfo.split(':', 1)[0]}:***@{hostinfo}"
        redacted = redacted.replace(f"//{parts.netloc}", f"//{masked}", 1)
    query = _PASSWORD_PARAM.sub(r"\1\2***", parts.query)
    if query != parts.query:
        redacted = redacted.replace(f"?{parts.query}", f"?{query}", 1)
    return redacted


def default_store_url(estate_dir: Path) -> str:
    """The embedded default: a SQLite file under the estate's ``.interlink`` directory."""
    return f"sqlite:///{(estate_dir / '.interlink' / 'interlink.db').as_posix()}"


class Store(ABC):
    """Durable state shared by the runtime, the admin API and the CLI.

    Implementations are synchronous and safe to call from several threads.
    """

    @property
    @abstractmethod
    def url(self) -> str:
        """The store URL, password redacted, fit for logs and messages."""

    @abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending migrations; return the versions this call applied (empty if none)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; safe to call twice."""

    @abstractmethod
    def ping(self) -> None:
        """Return if the database answers, else raise ``StoreUnavailable``."""

    @abstractmethod
    def record_revision(
        self,
        hash: str,
        applied_by: str,
        source: str,
        summary: Mapping[str, Any],
        object_hashes: Mapping[str, str],
    ) -> Revision:
        """Record an applied estate revision and return it with its id and time."""

    @abstractmethod
    def latest_revision(self) -> Revision | None:
        """The most recently recorded revision, if any."""

    @abstractmethod
    def list_revisions(self, limit: int = 50, before_id: int | None = None) -> list[Revision]:
        """Revisions newest first; pass the last id seen as ``before_id`` for the next page."""

    @abstractmethod
    def get_revision(self, id: int) -> Revision:
        """The revision with ``id``; raises ``NotFound``."""

    @abstractmethod
    def create_token(self, role: Role, name: str) -> tuple[str, TokenInfo]:
        """Create an admin token; the plaintext is returned here and never again."""

    @abstractmethod
    def verify_token(self, plaintext: str) -> TokenInfo | None:
        """The token's info if it is known and not revoked, else None."""

    @abstractmethod
    def list_tokens(self) -> list[TokenInfo]:
        """Every token, revoked ones included, oldest first."""

    @abstractmethod
    def revoke_token(self, id: str) -> None:
        """Revoke a token by id; raises ``NotFound``. Revoking twice keeps the first time."""

    @abstractmethod
    def has_admin_token(self) -> bool:
        """Whether any non-revoked admin token exists."""

    @abstractmethod
    def create_consumer_key(
        self, consumer: str, name: str, expires_at: datetime | None = None
    ) -> tuple[str, ConsumerKey]:
        """Create an API key for a Consumer; the plaintext is returned here and never again."""

    @abstractmethod
    def list_consumer_keys(self, consumer: str | None = None) -> list[ConsumerKey]:
        """Keys (revoked and expired ones included), oldest first, of one consumer or all."""

    @abstractmethod
    def revoke_consumer_key(self, id: str) -> None:
        """Revoke a key by id; raises ``NotFound``. Revoking twice keeps the first time."""

    @abstractmethod
    def consumer_keys_version(self) -> int:
        """A number that moves whenever a consumer key is added, changed or removed, by any
        process: one row to read, so a key ring reloads the keys only when it moved."""

    @abstractmethod
    def record_connections(self, rows: list[ObservedConnection]) -> None:
        """Add each row's count to the one stored for its (hour, consumer, route, system)."""

    @abstractmethod
    def observed_connections(self, since: datetime | None = None) -> list[ObservedConnection]:
        """Stored counts for the hours starting at or after ``since``'s hour (all without it),
        ordered by hour, consumer, route and system."""

    @abstractmethod
    def record_comparisons(
        self,
        route: str,
        period_start: datetime,
        compared: int,
        matched: int,
        field_counts: Mapping[str, int],
    ) -> None:
        """Add these counts of shadow comparisons to those stored for (route, period_start)."""

    @abstractmethod
    def comparison_summary(self, route: str, since: datetime, top: int = 10) -> ComparisonSummary:
        """The route's comparisons in periods starting at or after ``since``, with the ``top``
        most frequent differing fields (ties by name)."""

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
        return f"{type(self).__name__}({self.url!r})"
