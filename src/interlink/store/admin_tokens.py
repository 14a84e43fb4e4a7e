"""Admin tokens: roles, their scope (platform-wide or one Team), expiry, and the hashed tokens
the admin API and the CLI authenticate with."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, Literal, get_args

from interlink.errors import AuthError, ConfigError, InterlinkError, NotFound
from interlink.store.base import (
    TOKEN_PREFIX,
    NewToken,
    digest_matches,
    draw_unique,
    token_id_of,
)
from interlink.store.database import Database, Row

Role = Literal["viewer", "operator", "admin", "dataplane"]
# viewer < operator < admin; ``dataplane`` stands apart: a data-plane node's token reads the
# current revision and reports the node's status, and nothing else admits it (nor is it admitted
# by any other role).
ROLE_RANK: Final[Mapping[Role, int]] = MappingProxyType({"viewer": 0, "operator": 1, "admin": 2})
ROLES: Final[tuple[Role, ...]] = get_args(Role)
TOKEN_TOUCH_INTERVAL: Final = timedelta(minutes=1)
#: Roles a token limited to one Team may have: token management, apply and the data plane are
#: platform-wide by nature, so an admin or dataplane token is never team-scoped.
TEAM_ROLES: Final[tuple[Role, ...]] = ("viewer", "operator")
# A token's name lands in log lines, revision records and (soon) audit entries: one plain word.
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
# A Team's name as the estate allows any name (estate/kinds/base.py's NAME_PATTERN).
_TEAM = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")
_SELECT = (
    "SELECT id, name, role, team, created_at, expires_at, last_used_at, revoked_at, token_hash "
    "FROM admin_tokens"
)
# The active platform admins: what keeps the platform administrable. ``?`` is "now".
_ACTIVE_ADMINS = (
    "SELECT id FROM admin_tokens WHERE role = 'admin' AND team IS NULL AND revoked_at IS NULL "
    "AND (expires_at IS NULL OR expires_at > ?)"
)


#: The longest lifetime a token may be given.
MAX_LIFETIME: Final = timedelta(days=3650)


def token_lifetime(seconds: float) -> timedelta:
    """``seconds`` as a token's lifetime: more than nothing and at most ten years."""
    if not 0 < seconds <= MAX_LIFETIME.total_seconds():
        raise ConfigError("a token expires in more than nothing and at most 3650 days")
    return timedelta(seconds=seconds)


class LastAdmin(InterlinkError):
    """Revoking this token would leave no active platform admin to manage tokens with."""

    status = 409
    title = "Last platform admin"


def check_admin_token_name(name: str) -> str:
    """``name`` when it is 1 to 64 letters, digits, dots, underscores or hyphens."""
    if not _NAME.fullmatch(name):
        shown = name if len(name) <= 70 else name[:64] + "…"
        raise ConfigError(
            f"token name {shown!r} is not allowed: use 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return name


def check_team_scope(role: Role, team: str | None) -> str | None:
    """``team`` when a ``role`` token may be limited to it; ConfigError otherwise."""
    if team is None:
        return None
    if not _TEAM.fullmatch(team):
        raise ConfigError(f"{team[:70]!r} is not a Team name (lowercase letters, digits, '.', '-')")
    if role not in TEAM_ROLES:
        raise ConfigError(
            f"{role} tokens are platform-wide: only {' and '.join(TEAM_ROLES)} tokens take a team"
        )
    return team


def role_allows(have: Role, need: Role) -> bool:
    """True when a credential with role ``have`` may do what needs role ``need``."""
    if have not in ROLE_RANK or need not in ROLE_RANK:  # a role outside the ranking
        return have == need
    return ROLE_RANK[have] >= ROLE_RANK[need]


def as_role(value: str) -> Role:
    """Narrow a string to a :data:`Role`, or raise ``ConfigError`` naming the valid ones."""
    for role in ROLES:
        if value == role:
            return role
    raise ConfigError(f"unknown role {value!r}: use one of {', '.join(ROLES)}")


def token_touch_due(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether ``last_used_at`` is stale enough to be rewritten (at most once a minute)."""
    return last_used_at is None or now - last_used_at >= TOKEN_TOUCH_INTERVAL


@dataclass(frozen=True)
class TokenInfo:
    """What is known about an admin token; never the token itself."""

    id: str
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    team: str | None = None  # None: the role holds platform-wide
    expires_at: datetime | None = None  # None: never

    def expired(self, at: datetime) -> bool:
        return self.expires_at is not None and at >= self.expires_at


def _refuse_expired(info: TokenInfo, now: datetime) -> None:
    if info.expired(now):
        assert info.expires_at is not None
        raise AuthError(
            f"the token {info.id} expired at "
            f"{info.expires_at.isoformat(timespec='seconds')}: ask an admin for a new one"
        )


class AdminTokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        role: Role,
        name: str,
        *,
        team: str | None = None,
        expires_in: timedelta | None = None,
    ) -> tuple[str, TokenInfo]:
        """Create an admin token, platform-wide or limited to ``team``, expiring ``expires_in``
        from now when given; the plaintext is returned here and never again."""
        role, name = as_role(role), check_admin_token_name(name)
        team = check_team_scope(role, team)
        if expires_in is not None:
            expires_in = token_lifetime(expires_in.total_seconds())
        created_at = self._db.now()
        expires_at = None if expires_in is None else created_at + expires_in

        def insert(token: NewToken) -> bool:
            with self._db.transaction() as session:
                row = session.fetchone(
                    "INSERT INTO admin_tokens "
                    "(id, name, role, team, token_hash, created_at, expires_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
                    (
                        token.id,
                        name,
                        role,
                        team,
                        token.digest,
                        self._db.ts(created_at),
                        None if expires_at is None else self._db.ts(expires_at),
                    ),
                )
            return row is not None

        token = draw_unique(insert, TOKEN_PREFIX, "token")
        info = TokenInfo(token.id, name, role, created_at, None, False, team, expires_at)
        return token.plaintext, info

    def verify(self, plaintext: str) -> TokenInfo | None:
        """The token's info if it is known, not revoked and not expired, else None."""
        try:
            return self.check(plaintext)
        except AuthError:
            return None

    def check(self, plaintext: str) -> TokenInfo:
        """The token's info; AuthError saying why when it is unknown, revoked or expired."""
        token_id = token_id_of(plaintext)
        if token_id is None:
            raise AuthError("the token is unknown or revoked")
        with self._db.session() as session:
            row = session.fetchone(_SELECT + " WHERE id = ?", (token_id,))
            if row is None or row[7] is not None or not digest_matches(plaintext, row[8]):
                raise AuthError("the token is unknown or revoked")
            info = self._token(row)
            now = self._db.now()
            _refuse_expired(info, now)
            if not token_touch_due(info.last_used_at, now):
                return info
            # Conditional, so concurrent requests (other processes, other nodes) write the
            # minute only once.
            session.execute(
                "UPDATE admin_tokens SET last_used_at = ? WHERE id = ? "
                "AND (last_used_at IS NULL OR last_used_at <= ?)",
                (self._db.ts(now), token_id, self._db.ts(now - TOKEN_TOUCH_INTERVAL)),
            )
        return replace(info, last_used_at=now)

    def active(self, token_id: str) -> TokenInfo:
        """The token with this id; AuthError when it is unknown, revoked or expired (what a
        console session checks on each request: it holds the id, never the token)."""
        with self._db.session() as session:
            row = session.fetchone(_SELECT + " WHERE id = ?", (token_id,))
        if row is None or row[7] is not None:
            raise AuthError("the token is unknown or revoked")
        info = self._token(row)
        _refuse_expired(info, self._db.now())
        return info

    def list(self) -> list[TokenInfo]:
        """Every token, revoked ones included, oldest first."""
        with self._db.session() as session:
            rows = session.fetchall(_SELECT + " ORDER BY created_at, id")
        return [self._token(row) for row in rows]

    def revoke(self, id: str) -> None:
        """Revoke a token by id; raises ``NotFound``, and ``LastAdmin`` rather than leave no
        active platform admin. Revoking twice keeps the first time."""
        now = self._db.ts(self._db.now())
        with self._db.transaction() as session:
            # SQLite's transaction holds the write lock; on Postgres the active admins are
            # locked, so two revocations at once cannot each leave the other as the last.
            lock = " FOR UPDATE" if self._db.dialect == "postgres" else ""
            admins = session.fetchall(_ACTIVE_ADMINS + lock, (now,))
            if [row[0] for row in admins] == [id]:
                raise LastAdmin(
                    f"token {id} is the last active platform admin: create another admin token "
                    "before revoking it, or the platform could not be administered"
                )
            changed = session.execute(
                "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                (now, id),
            )
            if changed == 0:
                raise NotFound(f"token {id!r} not found")

    def has_admin(self) -> bool:
        """Whether an active (not revoked, not expired) platform admin token exists."""
        with self._db.session() as session:
            row = session.fetchone(
                "SELECT EXISTS (" + _ACTIVE_ADMINS + ")",
                (self._db.ts(self._db.now()),),
            )
        return bool(row and row[0])

    def _token(self, row: Row) -> TokenInfo:
        return TokenInfo(
            id=row[0],
            name=row[1],
            role=as_role(row[2]),
            created_at=self._db.dt(row[4]),
            last_used_at=self._db.dt_or_none(row[6]),
            revoked=row[7] is not None,
            team=row[3],
            expires_at=self._db.dt_or_none(row[5]),
        )
