"""A System's ``oauth2`` credentials on the gateway's calls to it: the token fetched from a real
token endpoint once and shared, renewed as it expires and after a 401, and a token endpoint
that fails answered with a 502 problem naming it."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.testing.processes import free_port
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.integration.oauth_servers import BearerUpstream, TokenServer, private_pem
from tests.unit.gateway.helpers import route, write_estate


class Setup:
    """A token server, an upstream that checks its tokens, and a gateway routing /crm to it."""

    def __init__(
        self,
        root: Path,
        monkeypatch: pytest.MonkeyPatch,
        credentials: dict[str, Any],
        tokens: TokenServer,
    ) -> None:
        self.tokens = tokens
        self.upstream = BearerUpstream(tokens)
        self.system = "crm" + secrets.token_hex(3)  # the token sources are per System, per process
        monkeypatch.setenv("INTERLINK_SECRET_CRM_CLIENT", tokens.secret)
        shadow = self.system + "-shadow"  # a System of its own: a token of its own
        systems: dict[str, str | None] = {self.system: self.upstream.url, shadow: self.upstream.url}
        routes = [route("crm", "/crm", self.system), route("mirrored", "/m", self.system, shadow)]
        routes[1]["spec"]["upstreams"][1]["shadow"] = True
        write_estate(root, systems, routes, credentials=dict.fromkeys(systems, credentials))
        result = check_estate(root)
        errors = [f.render() for f in result.findings if f.severity == "error"]
        assert not errors, errors
        self.config = compile_gateway(result.estate, FAST, GatewayServices())
        assert not self.config.unserved, self.config.unserved
        self.gateway = GatewayThread(self.config).start()
        self.client = httpx.Client(base_url=self.gateway.url, timeout=30)

    def close(self) -> None:
        self.client.close()
        self.gateway.stop()
        self.upstream.stop()
        self.tokens.stop()


def secret_credentials(tokens: TokenServer, **more: Any) -> dict[str, Any]:
    return {
        "scheme": "oauth2",
        "tokenUrl": tokens.url,
        "clientId": tokens.client_id,
        "clientSecret": "${secret:crm-client}",
        **more,
    }


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    tokens = TokenServer()
    running = Setup(tmp_path, monkeypatch, secret_credentials(tokens, scopes=["a", "b"]), tokens)
    try:
        yield running
    finally:
        running.close()


def test_one_token_is_fetched_and_shared_by_every_request(setup: Setup) -> None:
    with ThreadPoolExecutor(8) as pool:  # the first requests arrive together: one fetch
        answers = list(pool.map(lambda _: setup.client.get("/crm/a"), range(16)))
    answers += [setup.client.get("/crm/b") for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 26
    assert setup.tokens.fetches == 1
    assert setup.tokens.forms[0] == {"grant_type": "client_credentials", "scope": "a b"}
    assert len({seen["token"] for seen in setup.upstream.seen}) == 1


def test_the_clients_authorization_never_reaches_the_system(setup: Setup) -> None:
    answer = setup.client.get("/crm/a", headers={"authorization": "Bearer forged"})
    assert answer.status_code == 200
    assert setup.upstream.seen[-1]["token"] != "forged"


def test_an_expired_token_is_fetched_anew(setup: Setup) -> None:
    setup.tokens.expires_in = 1
    assert setup.client.get("/crm/a").status_code == 200
    time.sleep(1.2)  # past its expiry (and past the 80 % where it is renewed)
    assert setup.client.get("/crm/a").status_code == 200
    assert setup.tokens.fetches >= 2
    first, last = setup.upstream.seen[0]["token"], setup.upstream.seen[-1]["token"]
    assert first != last


def test_a_401_drops_the_token_and_the_request_goes_once_more(setup: Setup) -> None:
    credential = setup.config.routes[0].upstreams[0].credential
    assert credential is not None
    assert credential.source is not None
    credential.source.reject_interval = 3600.0  # however slowly this test runs
    assert setup.client.get("/crm/a").status_code == 200
    setup.tokens.revoke_all()  # the System no longer takes the token the gateway holds
    answer = setup.client.post("/crm/orders", json={"id": 1})
    assert answer.status_code == 200, answer.text
    assert setup.tokens.fetches == 2
    refused, retried = setup.upstream.seen[-2:]
    assert (refused["status"], retried["status"]) == (401, 200)
    assert refused["body"] == retried["body"] == '{"id":1}'
    # A System refusing every token is not retried in a loop: one token dropped per while.
    setup.tokens.revoke_all()
    calls = len(setup.upstream.seen)
    assert setup.client.get("/crm/a").status_code == 401
    assert len(setup.upstream.seen) == calls + 1
    assert setup.tokens.fetches == 2


def test_a_failing_token_endpoint_is_a_502_problem_naming_it(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    setup.tokens.status = 503
    answer = setup.client.get("/crm/a")
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["detail"] == (
        f"{setup.system}: the token endpoint {setup.tokens.url} answered HTTP 503 "
        "(temporarily_unavailable)"
    )
    assert problem["system"] == setup.system
    assert setup.upstream.seen == []  # never called without a token
    assert f"System/{setup.system}: no access token" in caplog.text
    assert setup.tokens.secret not in caplog.text
    setup.tokens.status = 200  # back: within a second or two the next fetch succeeds
    deadline = time.monotonic() + 10
    while setup.client.get("/crm/a").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_refused_client_secret_is_a_502_with_the_endpoints_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = TokenServer()
    wrong = secret_credentials(tokens, clientId="someone-else", clientAuth="client_secret_post")
    running = Setup(tmp_path, monkeypatch, wrong, tokens)
    try:
        answer = running.client.get("/crm/a")
        assert answer.status_code == 502
        assert "answered HTTP 401 (invalid_client: bad client secret)" in answer.json()["detail"]
        assert tokens.forms[0]["client_secret"] == tokens.secret  # sent in the form
    finally:
        running.close()


def test_a_token_endpoint_nobody_listens_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = TokenServer()
    down = secret_credentials(tokens, tokenUrl=f"http://127.0.0.1:{free_port()}/token")
    running = Setup(tmp_path, monkeypatch, down, tokens)
    try:
        answer = running.client.get("/crm/a")
        assert answer.status_code == 502
        assert "could not be reached" in answer.json()["detail"]
    finally:
        running.close()


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_private_key_jwt_signs_an_assertion_the_token_endpoint_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    pem, public = private_pem(kind)
    monkeypatch.setenv("INTERLINK_SECRET_CRM_KEY", pem)
    tokens = TokenServer(public=public)
    credentials = {
        "scheme": "oauth2",
        "tokenUrl": tokens.url,
        "clientId": tokens.client_id,
        "privateKey": "${secret:crm-key}",
        "keyId": "key-1",
        "audience": "https://crm.example.test",
    }
    running = Setup(tmp_path, monkeypatch, credentials, tokens)
    try:
        assert running.client.get("/crm/a").status_code == 200
        assert running.client.get("/crm/b").status_code == 200
        assert tokens.fetches == 1
        form = tokens.forms[0]
        assert form["client_id"] == tokens.client_id
        assert form["audience"] == "https://crm.example.test"
        assert "client_secret" not in form
        (seen,) = tokens.assertions
        assert seen["header"]["kid"] == "key-1"
        assert seen["header"]["alg"] == ("ES256" if kind == "ec" else "RS256")
        assert seen["claims"]["exp"] - seen["claims"]["iat"] <= 300
    finally:
        running.close()


def test_the_shadow_system_gets_its_own_token(setup: Setup) -> None:
    for credential in (u.credential for r in setup.config.routes for u in r.upstreams):
        assert credential is not None
        assert credential.source is not None
        credential.source.reject_interval = 3600.0
    assert setup.client.get("/m/a").status_code == 200
    wait_for(lambda: len(setup.upstream.seen) == 2)
    assert [seen["status"] for seen in setup.upstream.seen] == [200, 200]
    primary, shadow = (seen["token"] for seen in setup.upstream.seen)
    assert primary != shadow
    assert setup.tokens.fetches == 2
    setup.tokens.revoke_all()  # both refused once: each renewed and sent once more
    assert setup.client.get("/m/b").status_code == 200
    wait_for(lambda: len(setup.upstream.seen) == 6)
    assert sorted(seen["status"] for seen in setup.upstream.seen[2:]) == [200, 200, 401, 401]
    assert setup.tokens.fetches == 4


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)
