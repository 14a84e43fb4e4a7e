"""Standard Webhooks signing and verification, checked against HMACs computed here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from interlink.errors import AuthError, ConfigError, SignatureError
from interlink.events.signing import (
    generate_secret,
    parse_secret,
    sign,
    signature_headers,
    verify,
)

KEY = b"0123456789abcdef0123456789abcdef"
OLD_KEY = b"an older secret, still accepted!"
MSG_ID = "msg_2b7LqC0sM3yGfd"
TS = 1_714_566_600
BODY = b'{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"n":1}}'


def expected(key: bytes, msg_id: str = MSG_ID, ts: int = TS, body: bytes = BODY) -> str:
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(*keys: bytes, ts: int = TS, msg_id: str = MSG_ID) -> dict[str, str]:
    return signature_headers(list(keys or (KEY,)), msg_id, BODY, timestamp=ts)


# --- secrets -----------------------------------------------------------------------------------


def test_generated_secrets_are_whsec_and_32_random_bytes() -> None:
    secrets = {generate_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret[6:], validate=True)) == 32
        assert parse_secret(secret) == base64.b64decode(secret[6:])


@pytest.mark.parametrize(
    ("secret", "key"),
    [
        ("whsec_" + base64.b64encode(KEY).decode(), KEY),
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ),
        ("a plain secret from a vault", b"a plain secret from a vault"),
        ("sécret", "sécret".encode()),
        ("WHSEC_abc", b"WHSEC_abc"),  # the prefix is lower case
    ],
)
def test_parse_secret(secret: str, key: bytes) -> None:
    assert parse_secret(secret) == key


@pytest.mark.parametrize(
    ("secret", "fragment"),
    [
        ("", "must not be empty"),
        ("whsec_", "must not be empty"),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_abc", "followed by base64"),  # bad padding
    ],
)
def test_unusable_secrets_are_config_errors(secret: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_secret(secret)


# --- signing -----------------------------------------------------------------------------------


def test_signature_is_the_hmac_of_id_timestamp_and_body() -> None:
    assert sign([KEY], MSG_ID, TS, BODY) == expected(KEY)


def test_the_standard_webhooks_example_vector() -> None:
    key = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign([key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_rotation_signs_with_every_secret_in_order() -> None:
    assert sign([KEY, OLD_KEY], MSG_ID, TS, BODY) == f"{expected(KEY)} {expected(OLD_KEY)}"


def test_signature_headers() -> None:
    assert headers(KEY, OLD_KEY) == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TS),
        "webhook-signature": f"{expected(KEY)} {expected(OLD_KEY)}",
    }
    stamped = signature_headers([KEY], MSG_ID, BODY)
    assert abs(int(stamped["webhook-timestamp"]) - time.time()) < 5


@pytest.mark.parametrize(
    ("keys", "msg_id", "ts", "fragment"),
    [
        ([], MSG_ID, TS, "at least one secret"),
        ([KEY], "", TS, "message id"),
        ([KEY], "has space", TS, "message id"),
        ([KEY], "x" * 257, TS, "message id"),
        ([KEY], "é", TS, "message id"),
        ([KEY], MSG_ID, -1, "seconds since the epoch"),
    ],
)
def test_sign_refuses_bad_input(keys: list[bytes], msg_id: str, ts: int, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        sign(keys, msg_id, ts, BODY)


# --- verification ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [
        KEY,
        "whsec_" + base64.b64encode(KEY).decode(),
        KEY.decode(),
        [OLD_KEY, KEY],
        ["some other secret", KEY],
    ],
)
def test_verify_accepts_a_signed_delivery(secret: bytes | str | list[bytes | str]) -> None:
    verify(secret, headers(KEY), BODY, now=TS)


def test_during_rotation_either_secret_verifies() -> None:
    both = headers(KEY, OLD_KEY)
    verify(KEY, both, BODY, now=TS)
    verify(OLD_KEY, both, BODY, now=TS)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(b"a third secret", both, BODY, now=TS)


def test_header_names_are_case_insensitive() -> None:
    upper = {name.upper(): value for name, value in headers().items()}
    verify(KEY, upper, BODY, now=TS)


def test_other_signature_versions_are_skipped() -> None:
    signed = headers()
    signed["webhook-signature"] = f"v1a,c29tZXRoaW5n v2,abc {signed['webhook-signature']} junk"
    verify(KEY, signed, BODY, now=TS)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"webhook-id": None}, "missing header webhook-id"),
        ({"webhook-timestamp": None}, "missing header webhook-timestamp"),
        ({"webhook-signature": None}, "missing header webhook-signature"),
        ({"webhook-id": None, "webhook-signature": None}, "webhook-id, webhook-signature"),
        ({"webhook-signature": ""}, "missing header webhook-signature"),
        ({"webhook-timestamp": "soon"}, "whole seconds"),
        ({"webhook-timestamp": "1.5"}, "whole seconds"),
        ({"webhook-timestamp": "-1"}, "whole seconds"),
        ({"webhook-timestamp": "9" * 40}, "whole seconds"),
        ({"webhook-signature": "v1a,abc v2,def"}, "no v1 signature"),
        ({"webhook-signature": "v1,"}, "no signature matches"),
        ({"webhook-signature": "v1,not-base64-é"}, "no signature matches"),
        ({"webhook-id": "msg_other"}, "no signature matches"),
        ({"webhook-id": "\ud800"}, "no signature matches"),
    ],
)
def test_verify_says_what_is_wrong(change: dict[str, str | None], fragment: str) -> None:
    signed: dict[str, str] = headers()
    for name, value in change.items():
        if value is None:
            del signed[name]
        else:
            signed[name] = value
    with pytest.raises(SignatureError, match=fragment):
        verify(KEY, signed, BODY, now=TS)


def test_a_tampered_body_does_not_verify() -> None:
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(KEY, headers(), BODY.replace(b'"n":1', b'"n":2'), now=TS)


def test_a_timestamp_moved_after_signing_does_not_verify() -> None:
    moved = {**headers(), "webhook-timestamp": str(TS + 1)}
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(KEY, moved, BODY, now=TS)


@pytest.mark.parametrize(
    ("now", "tolerance", "fragment"),
    [
        (TS + 300, 300, None),
        (TS - 300, 300, None),
        (TS + 301, 300, "301 s old; at most 300 s"),
        (TS - 301, 300, "301 s in the future"),
        (TS + 3600, 300, "3600 s old"),
        (TS + 3600, 3600, None),
        (TS + 2, 1, "2 s old"),
    ],
)
def test_timestamps_outside_the_tolerance_are_refused(
    now: int, tolerance: int, fragment: str | None
) -> None:
    if fragment is None:
        verify(KEY, headers(), BODY, tolerance=tolerance, now=now)
    else:
        with pytest.raises(SignatureError, match=fragment):
            verify(KEY, headers(), BODY, tolerance=tolerance, now=now)


def test_verify_uses_the_clock_by_default() -> None:
    fresh = signature_headers([KEY], MSG_ID, BODY)
    verify(KEY, fresh, BODY)
    with pytest.raises(SignatureError, match="old"):
        verify(KEY, headers(), BODY)


def test_signature_error_is_a_401_auth_error() -> None:
    error = SignatureError("x")
    assert isinstance(error, AuthError)
    assert (error.status, error.title) == (401, "Invalid webhook signature")


@pytest.mark.parametrize("secret", ["", b"", [], ["whsec_"]])
def test_verify_needs_a_secret(secret: bytes | str | list[str]) -> None:
    with pytest.raises(ConfigError):
        verify(secret, headers(), BODY, now=TS)
