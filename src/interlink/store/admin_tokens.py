"""Admin tokens: roles, and the hashed tokens the admin API and the CLI authenticate with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, Literal, get_args

from interlink.errors import ConfigError, NotFound
from interlink.store.base import (
    TOKEN_PREFIX,
    NewToken,
    check_token_name,
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


class AdminTokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, role: Role, name: str) -> tuple[str, TokenInfo]:
        """Create an admin token; the plaintext is returned here and never again."""
        role, name = as_role(role), check_token_name(name)
        created_at = self._db.now()

        def insert(token: NewToken) -> bool:
            with self._db.transaction() as session:
                row = session.fetchone(
                    "INSERT INTO admin_tokens (id, name, role, token_hash, created_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
                    (token.id, name, role, token.digest, self._db.ts(created_at)),
                )
            return row is not None

        token = draw_unique(insert, TOKEN_PREFIX, "token")
        return token.plaintext, TokenInfo(token.id, name, role, created_at, None, False)

    def verify(self, plaintext: str) -> TokenInfo | None:
        """The token's info if it is known and not revoked, else None."""
        token_id = token_id_of(plaintext)
        if token_id is None:
            return None
        with self._db.session() as session:
            row = session.fetchone(
                "SELECT id, name, role, created_at, last_used_at, revoked_at, token_hash "
                "FROM admin_tokens WHERE id = ?",
                (token_id,),
            )
            if row is None or row[5] is not None or not digest_matches(plaintext, row[6]):
                return None
            info = self._token(row)
            now = self._db.now()
            if not token_touch_due(info.last_used_at, now):
                return info
            # Conditional, so concurrent requests (other processes, other nodes) write the
            # minute only once.
            session.execute(
                "UPDATE admin_tokens SET last_used_at = ? WHERE id = ? "
                "AND (last_used_at IS NULL OR last_used_at <= ?)",
                (self._db.ts(now), token_id, self._db.ts(now - TOKEN_TOUCH_INTERVAL)),
            )
        return TokenInfo(info.id, info.name, info.role, info.created_at, now, False)

    def list(self) -> list[TokenInfo]:
        """Every token, revoked ones included, oldest first."""
        with self._db.session() as session:
            rows = session.fetchall(
                "SELECT id, name, role, created_at, last_used_at, revoked_at "
                "FROM admin_tokens ORDER BY created_at, id"
            )
        return [self._token(row) for row in rows]

    def revoke(self, id: str) -> None:
        """Revoke a token by id; raises ``NotFound``. Revoking twice keeps the first time."""
        with self._db.transaction() as session:
            changed = session.execute(
                "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                (self._db.ts(self._db.now()), id),
            )
            if changed == 0:
                raise NotFound(f"token {id!r} not found")

    def has_admin(self) -> bool:
        """Whether any non-revoked admin token exists."""
        with self._db.session() as session:
            row = session.fetchone(
                "SELECT EXISTS (SELECT 1 FROM admin_tokens "
                "WHERE role = 'admin' AND revoked_at IS NULL)"
            )
        return bool(row and row[0])

    def _token(self, row: Row) -> TokenInfo:
        return TokenInfo(
            id=row[0],
            name=row[1],
            role=as_role(row[2]),
            created_at=self._db.dt(row[3]),
            last_used_at=self._db.dt_or_none(row[4]),
            revoked=row[5] is not None,
        )
