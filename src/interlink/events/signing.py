"""Webhook signatures as Standard Webhooks defines them (https://www.standardwebhooks.com).

Every delivery carries three headers::

    webhook-id: msg_2b7Lq...                 the message id, the same on every retry
    webhook-timestamp: 1714566600            seconds since the epoch, when it was sent
    webhook-signature: v1,K5oZ... v1,x8Pm... one signature per active secret

Each signature is ``v1,`` and the base64 HMAC-SHA256, keyed with the secret, of
``{webhook-id}.{webhook-timestamp}.{body}``. While a secret is being rotated the sender signs
with the old and the new one, and a receiver holding either accepts the message.

:func:`verify` is the receiver's side, public so that receivers (and the platform's own test
receivers) check deliveries exactly as they are signed.

Secrets: :func:`generate_secret` writes ``whsec_`` and the base64 of 32 random bytes.
:func:`parse_secret` reads such a value back into key bytes; any other string (for example one
resolved from a ``${secret:…}`` reference) is used as its UTF-8 bytes, as it is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets as _random
import time
from collections.abc import Mapping, Sequence
from typing import Final

from interlink.errors import ConfigError, SignatureError

PREFIX: Final = "whsec_"
ID_HEADER: Final = "webhook-id"
TIMESTAMP_HEADER: Final = "webhook-timestamp"
SIGNATURE_HEADER: Final = "webhook-signature"
#: How far (seconds) a timestamp may be from the receiver's clock, either way.
DEFAULT_TOLERANCE: Final = 300
SECRET_BYTES: Final = 32

# Message ids go into a header and into the signed content: printable ASCII, no spaces.
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,256}\Z")
_TIMESTAMP = re.compile(r"[0-9]{1,12}\Z")


def generate_secret() -> str:
    """A new signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode("ascii")


def parse_secret(secret: str) -> bytes:
    """The key bytes of a secret.

    ``whsec_<base64>`` is decoded; any other non-empty string is used as its UTF-8 bytes.
    Raises ``ConfigError`` for an empty secret or a ``whsec_`` value that is not base64.
    """
    if secret.startswith(PREFIX):
        try:
            key = base64.b64decode(secret[len(PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("a whsec_ secret must be followed by base64") from None
    else:
        key = secret.encode("utf-8", "surrogatepass")
    if not key:
        raise ConfigError("a webhook signing secret must not be empty")
    return key


def sign(secrets: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, space-separated."""
    if not secrets:
        raise ValueError("signing needs at least one secret")
    if not _MESSAGE_ID.match(msg_id):
        raise ValueError("a message id is 1-256 printable ASCII characters without spaces")
    if timestamp < 0:
        raise ValueError("a timestamp is seconds since the epoch")
    return " ".join(f"v1,{_signature(key, msg_id, str(timestamp), body)}" for key in secrets)


def signature_headers(
    secrets: Sequence[bytes], msg_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of one signed delivery; ``timestamp`` defaults to now."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secrets, msg_id, ts, body),
    }


def verify(
    secret: bytes | str | Sequence[bytes | str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check a delivery's signature; return quietly or raise ``SignatureError`` saying why.

    ``secret`` is one secret or several (a receiver part-way through a rotation); a string is
    read with :func:`parse_secret`. ``headers`` may use any letter case. A timestamp more than
    ``tolerance`` seconds from ``now`` (default: the current time) either way is refused, so a
    captured delivery cannot be replayed later. Signatures are compared in constant time.
    """
    keys = _keys(secret)
    found = {name.lower(): value for name, value in headers.items()}
    missing = [h for h in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER) if not found.get(h)]
    if missing:
        raise SignatureError(f"missing header {', '.join(missing)}")
    msg_id, stamp = found[ID_HEADER], found[TIMESTAMP_HEADER].strip()
    if not _TIMESTAMP.match(stamp):
        raise SignatureError(f"{TIMESTAMP_HEADER} must be whole seconds since the epoch")
    clock = time.time() if now is None else now
    age = clock - int(stamp)
    if age > tolerance:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {int(age)} s old; at most {tolerance} s are accepted"
        )
    if -age > tolerance:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {int(-age)} s in the future; at most {tolerance} s are accepted"
        )
    offered = [
        value.encode("utf-8", "replace")
        for version, _, value in (part.partition(",") for part in found[SIGNATURE_HEADER].split())
        if version == "v1"
    ]
    if not offered:
        raise SignatureError(f"{SIGNATURE_HEADER} holds no v1 signature")
    for key in keys:
        expected = _signature(key, msg_id, stamp, body).encode("ascii")
        # Compare against every offered value, so timing does not tell which one matched.
        matched = False
        for candidate in offered:
            matched |= hmac.compare_digest(expected, candidate)
        if matched:
            return
    raise SignatureError("no signature matches the body with this secret")


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    # surrogatepass: a received id is hashed whatever it holds; it then just fails to match.
    content = f"{msg_id}.{timestamp}.".encode("utf-8", "surrogatepass") + body
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode("ascii")


def _keys(secret: bytes | str | Sequence[bytes | str]) -> list[bytes]:
    items: Sequence[bytes | str] = (
        [secret] if isinstance(secret, bytes | bytearray | str) else secret
    )
    keys = [parse_secret(item) if isinstance(item, str) else bytes(item) for item in items]
    if not keys or not all(keys):
        raise ConfigError("verifying a webhook needs a non-empty secret")
    return keys
