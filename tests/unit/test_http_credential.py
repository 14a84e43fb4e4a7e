"""A System's credential compiled from the estate: what it adds, and what it never shows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from interlink.errors import ConfigError
from interlink.estate.kinds.organisation import SystemCredentials
from interlink.estate.references import SecretSource
from interlink.http.credential import compile_credential

SECRETS = SecretSource(
    environ={
        "INTERLINK_SECRET_KEY": "s3cr=t&x",
        "INTERLINK_SECRET_BROKEN": "line\r\nX-Evil: 1",
        "USER": "a:b",
    }
)


def compiled(**spec: Any) -> Any:
    return compile_credential(SystemCredentials.model_validate(spec), "crm", SECRETS)


def test_a_query_credential_replaces_the_callers_parameter_and_is_encoded() -> None:
    credential = compiled(scheme="query", name="api_key", value="${secret:key}")
    assert credential.target(b"/a") == b"/a?api_key=s3cr%3Dt%26x"
    assert credential.target(b"/a?api_key=1&b=2&api%5Fkey=3&c") == b"/a?b=2&c&api_key=s3cr%3Dt%26x"
    assert credential.url("https://h/p?x=1") == "https://h/p?x=1&api_key=s3cr%3Dt%26x"
    assert credential.headers([(b"a", b"1")]) == [(b"a", b"1")]


def test_a_header_credential_replaces_the_callers_header_whatever_its_case() -> None:
    credential = compiled(scheme="header", name="X-Api-Key", value="${secret:key}")
    headers = [(b"X-API-KEY", b"forged"), (b"accept", b"*/*")]
    assert credential.headers(headers) == [(b"accept", b"*/*"), (b"x-api-key", b"s3cr=t&x")]
    assert credential.target(b"/a?b") == b"/a?b"
    assert credential.header_text() == ("x-api-key", "s3cr=t&x")


def test_repr_names_where_never_what() -> None:
    credential = compiled(scheme="query", name="api_key", value="${secret:key}")
    assert repr(credential) == "Credential(query parameter 'api_key')"
    assert "s3cr" not in repr(compiled(scheme="bearer", token="${secret:key}"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"scheme": "bearer", "token": "${secret:missing}"},
            "credentials of System/crm: secret 'missing' is not set",
        ),
        (
            {"scheme": "header", "name": "X-Key", "value": "${secret:broken}"},
            "credentials of System/crm: the value holds a character a header cannot carry",
        ),
        (
            {"scheme": "basic", "username": "${env:USER}", "password": "${secret:key}"},
            "credentials of System/crm: the username holds ':'",
        ),
    ],
)
def test_what_cannot_be_sent_is_one_line_without_the_value(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        compiled(**spec)
    assert info.value.message.startswith(message)
    assert "Evil" not in info.value.message


def _pem(key: Any, password: bytes | None = None) -> str:
    from cryptography.hazmat.primitives import serialization

    encryption: Any = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return str(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        ).decode()
    )


def test_an_oauth2_private_key_that_cannot_sign_is_one_line() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    keys = {
        "garbage": ("not a key", "not a PEM private key"),
        "locked": (
            _pem(ec.generate_private_key(ec.SECP256R1()), b"pw"),
            "the private key is encrypted",
        ),
        "short": (
            _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
            "the RSA key is shorter than 2048 bits",
        ),
        "curve": (
            _pem(ec.generate_private_key(ec.SECP384R1())),
            "the private key is neither RSA nor EC P-256 (RS256 or ES256)",
        ),
    }
    environ = {f"INTERLINK_SECRET_{name.upper()}": pem for name, (pem, _) in keys.items()}
    environ["TOKEN_URL"] = "http://login.example.com/token"
    source = SecretSource(environ=environ)
    base = {"scheme": "oauth2", "tokenUrl": "https://login.example.com/token", "clientId": "c"}
    for name, (_, why) in keys.items():
        spec = SystemCredentials.model_validate({**base, "privateKey": f"${{secret:{name}}}"})
        with pytest.raises(ConfigError) as info:
            compile_credential(spec, "idp-" + name, source)
        assert info.value.message == (
            f"credentials of System/idp-{name}: the privateKey ${{secret:{name}}}: {why}"
            + ("; give it unencrypted" if name == "locked" else "")
        )
    plain = SystemCredentials.model_validate(
        {**base, "tokenUrl": "${env:TOKEN_URL}", "clientSecret": "${secret:garbage}"}
    )
    with pytest.raises(ConfigError) as info:
        compile_credential(plain, "idp", source)
    assert "must be https (http only to a loopback address)" in info.value.message


def test_check_gives_the_line_of_a_wrong_oauth2_credential(tmp_path: Path) -> None:
    from interlink.estate.check import check_estate
    from tests.unit.gateway.helpers import write_estate

    credentials = {
        "erp": {
            "scheme": "oauth2",
            "tokenUrl": "http://login.example.com/token",
            "clientId": "interlink",
            "clientSecret": "${secret:erp}",
        }
    }
    write_estate(tmp_path, {"erp": "https://erp.example.com"}, [], credentials=credentials)
    found = [f.render() for f in check_estate(tmp_path).findings if f.severity == "error"]
    assert len(found) == 1
    assert re.match(r"^.*/estate\.yaml:\d+:\d+: error: spec\.credentials\.tokenUrl: ", found[0])
    assert "must be https (http only to a loopback address)" in found[0]
