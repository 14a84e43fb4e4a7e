"""What the store's parts share: the clock, the credential format, argument checks and URLs."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from interlink.errors import ConfigError, StoreError

Clock = Callable[[], datetime]
"""Returns the current time, UTC-aware; injectable so token-use throttling is testable."""


def utcnow() -> datetime:
    return datetime.now(UTC)


# Admin tokens look like ``il_<id>_<secret>``. The id has no "_" so the token splits
# unambiguously (the url-safe secret may contain "_"); it is shown in listings and is not secret.
TOKEN_PREFIX: Final = "il_"  # noqa: S105 - a format marker, not a credential
TOKEN_ID_LENGTH: Final = 8
TOKEN_SECRET_BYTES: Final = 32
_TOKEN_ID_ALPHABET: Final = string.ascii_lowercase + string.digits
_ID_ATTEMPTS: Final = 3
# Consumer API keys (the gateway's credentials for partners and apps) share the format with
# another prefix, so a key pasted where an admin token is expected is told apart at a glance.
KEY_PREFIX: Final = "ik_"


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


def draw_unique(insert: Callable[[NewToken], bool], prefix: str, what: str) -> NewToken:
    """Draw tokens until ``insert`` stores one; it returns False when the random id collided
    with an existing one (with 36**8 ids, a second draw is already rare)."""
    for _ in range(_ID_ATTEMPTS):
        token = new_token(prefix)
        if insert(token):
            return token
    raise StoreError(f"could not allocate a unique {what} id")


def check_token_name(name: str) -> str:
    if not name.strip():
        raise ConfigError("a token needs a non-empty name")
    return name.strip()


def dump_json(value: Mapping[str, Any]) -> str:
    """Serialize before touching the database so both backends fail the same way on bad data."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def check_page(limit: int) -> None:
    if limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")


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
