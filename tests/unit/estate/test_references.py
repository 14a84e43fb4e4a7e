"""`${env:NAME}` and `${secret:NAME}` references: recognised, resolved at run time, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.errors import ConfigError
from interlink.estate.references import (
    REDACTED,
    SecretSource,
    UnresolvedReference,
    has_reference,
    is_reference,
    redact,
    resolve,
    use_secret_store,
)


@pytest.mark.parametrize(
    "value",
    ["${env:CRM_TOKEN}", "${secret:crm-token}", "${secret:crm.token_2}", "${env:_X}"],
)
def test_whole_references(value: str) -> None:
    assert is_reference(value)
    assert has_reference(value)


@pytest.mark.parametrize(
    "value",
    [
        "hunter2",
        "",
        "Bearer ${env:TOKEN}",
        "${env:TOKEN} ",
        "${env:A}${env:B}",
        "${vault:crm}",
        "${env:}",
        "${env:1ABC}",
        "$env:TOKEN",
        "${ env:TOKEN }",
        "${secret:crm token}",
        "{env:TOKEN}",
    ],
)
def test_not_whole_references(value: str) -> None:
    assert not is_reference(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://${env:CRM_HOST}/api", True),
        ("Bearer ${secret:token}", True),
        ("${env:A}${env:B}", True),
        ("https://crm.internal/api", False),
        ("${vault:x}", False),
    ],
)
def test_has_reference(value: str, expected: bool) -> None:
    assert has_reference(value) is expected


def test_resolve_env() -> None:
    source = SecretSource(environ={"CRM_HOST": "crm.internal", "PORT": "8443"})
    assert resolve("https://${env:CRM_HOST}:${env:PORT}/api", source) == (
        "https://crm.internal:8443/api"
    )
    assert resolve("no references", source) == "no references"


def test_resolve_secret_from_the_environment() -> None:
    source = SecretSource(environ={"INTERLINK_SECRET_CRM_TOKEN": "t0k3n"})
    assert resolve("${secret:crm-token}", source) == "t0k3n"
    assert resolve("${secret:crm.token}", source) == "t0k3n"
    assert resolve("Bearer ${secret:CRM_TOKEN}", source) == "Bearer t0k3n"


def test_resolve_secret_from_a_secrets_directory(tmp_path: Path) -> None:
    (tmp_path / "crm-token").write_text("from-file\n")
    assert resolve("${secret:crm-token}", SecretSource(directory=tmp_path, environ={})) == (
        "from-file"
    )
    via_env = SecretSource(environ={"INTERLINK_SECRETS_DIR": str(tmp_path)})
    assert via_env.secret("crm-token") == "from-file"


def test_a_secret_keeps_inner_newlines_and_loses_only_the_last(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("line one\nline two\n")
    assert SecretSource(directory=tmp_path, environ={}).secret("key") == "line one\nline two"


def test_the_environment_wins_over_the_directory(tmp_path: Path) -> None:
    (tmp_path / "crm-token").write_text("from-file")
    source = SecretSource(directory=tmp_path, environ={"INTERLINK_SECRET_CRM_TOKEN": "from-env"})
    assert source.secret("crm-token") == "from-env"


def test_the_real_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLINK_TEST_HOST", "example.org")
    monkeypatch.setenv("INTERLINK_SECRET_TEST_KEY", "k")
    assert resolve("${env:INTERLINK_TEST_HOST}/${secret:test-key}") == "example.org/k"


def test_a_missing_secret_names_the_variable_to_set(tmp_path: Path) -> None:
    source = SecretSource(directory=tmp_path, environ={})
    with pytest.raises(ConfigError) as info:
        resolve("Bearer ${secret:crm-token}", source)
    assert "INTERLINK_SECRET_CRM_TOKEN" in info.value.message
    assert "crm-token" in info.value.message


def test_a_secret_that_is_a_folder_is_missing(tmp_path: Path) -> None:
    (tmp_path / "crm-token").mkdir()
    with pytest.raises(ConfigError, match="INTERLINK_SECRET_CRM_TOKEN"):
        SecretSource(directory=tmp_path, environ={}).secret("crm-token")


def test_a_missing_environment_variable_names_it() -> None:
    with pytest.raises(ConfigError, match="environment variable CRM_HOST is not set"):
        resolve("https://${env:CRM_HOST}", SecretSource(environ={}))


def test_redact_masks_sensitive_keys_but_keeps_references() -> None:
    data: dict[str, object] = {
        "name": "crm",
        "token": "t0k3n",
        "secret": "${secret:crm-webhook}",
        "credentials": "${env:CRM_CREDENTIALS}",
        "password": "hunter2",
        "clientSecret": "abc",
        "privateKey": "-----BEGIN KEY-----",
        "apiKeys": ["k1", "${env:K2}"],
        "nested": {"dbPassword": "pw", "url": "https://crm.internal", "retries": 3},
        "tokenTtl": 300,
        "description": "mentions a token, but is not one",
    }
    assert redact(data) == {
        "name": "crm",
        "token": REDACTED,
        "secret": "${secret:crm-webhook}",
        "credentials": "${env:CRM_CREDENTIALS}",
        "password": REDACTED,
        "clientSecret": REDACTED,
        "privateKey": REDACTED,
        "apiKeys": [REDACTED, "${env:K2}"],
        "nested": {"dbPassword": REDACTED, "url": "https://crm.internal", "retries": 3},
        "tokenTtl": 300,
        "description": "mentions a token, but is not one",
    }
    assert data["token"] == "t0k3n"  # the original is left alone


def test_redact_masks_a_literal_mixed_with_a_reference() -> None:
    assert redact({"secret": "prefix-${env:X}"}) == {"secret": REDACTED}


def test_redact_leaves_plain_values_alone() -> None:
    assert redact("t0k3n") == "t0k3n"
    assert redact(["a", 1, None]) == ["a", 1, None]
    assert redact({}) == {}


def test_a_secret_is_resolved_from_env_then_the_secrets_dir_then_the_store(
    tmp_path: Path,
) -> None:
    stored = {"crm-token": "from-store", "only-stored": "stored-value"}
    asked: list[str] = []

    def store(name: str) -> str | None:
        asked.append(name)
        return stored.get(name)

    (tmp_path / "crm-token").write_text("from-file\n", encoding="utf-8")
    env = {"INTERLINK_SECRET_CRM_TOKEN": "from-env"}
    source = SecretSource(directory=tmp_path, environ=env, store=store)
    assert source.secret("crm-token") == "from-env"
    assert SecretSource(directory=tmp_path, environ={}, store=store).secret("crm-token") == (
        "from-file"
    )
    assert asked == []  # the store is asked only when neither has it
    assert source.secret("only-stored") == "stored-value"
    with pytest.raises(UnresolvedReference, match="`interlink secrets set missing`"):
        source.secret("missing")
    assert asked == ["only-stored", "missing"]


def test_the_process_store_is_read_when_a_secret_is_resolved() -> None:
    source = SecretSource(environ={})  # made before the node installs its store
    use_secret_store(lambda name: "late" if name == "x" else None)
    try:
        assert source.secret("x") == "late"
    finally:
        use_secret_store(None)
    with pytest.raises(UnresolvedReference):
        source.secret("x")
