"""A System's token source against a real token endpoint, on a clock the test moves: one fetch
for concurrent callers, a renewal in the background from 80 % of the lifetime, a failure held
for a second rather than retried by every call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from interlink.http.token_source import TokenError, TokenSettings, TokenSource
from tests.integration.oauth_servers import TokenServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    server = TokenServer()
    try:
        yield server
    finally:
        server.stop()


def source(tokens: TokenServer, clock: Clock) -> TokenSource:
    settings = TokenSettings(
        "erp", tokens.url, tokens.client_id, "client_secret_basic", tokens.secret
    )
    return TokenSource(settings, "test", clock)


@pytest.mark.anyio
async def test_concurrent_callers_share_one_fetch(tokens: TokenServer) -> None:
    held = source(tokens, Clock())
    values = await asyncio.gather(*(held.current() for _ in range(20)))
    assert len(set(values)) == 1
    assert tokens.fetches == held.fetches == 1


@pytest.mark.anyio
async def test_a_token_is_renewed_in_the_background_from_80_percent(tokens: TokenServer) -> None:
    tokens.expires_in = 100
    clock = Clock()
    held = source(tokens, clock)
    first = await held.current()
    clock.now += 79
    assert await held.current() == first
    assert tokens.fetches == 1
    clock.now += 2  # past 80 %: this caller still gets the token held, a renewal starts
    assert await held.current() == first
    assert held._task is not None
    second = (await held._task).value
    assert second != first
    assert await held.current() == second
    assert tokens.fetches == 2


@pytest.mark.anyio
async def test_near_its_expiry_callers_wait_for_a_new_token(tokens: TokenServer) -> None:
    tokens.expires_in = 100
    clock = Clock()
    held = source(tokens, clock)
    first = await held.current()
    clock.now += 95  # within the last 10 %: not used any more
    assert await held.current() != first
    assert tokens.fetches == 2


@pytest.mark.anyio
async def test_without_expires_in_a_token_is_renewed_after_a_minute(tokens: TokenServer) -> None:
    tokens.expires_in = None
    clock = Clock()
    held = source(tokens, clock)
    first = await held.current()
    clock.now += 59
    assert await held.current() == first
    assert tokens.fetches == 1
    clock.now += 2
    await held.current()
    assert held._task is not None
    await held._task
    assert tokens.fetches == 2


@pytest.mark.anyio
async def test_a_failure_is_held_for_a_second(tokens: TokenServer) -> None:
    tokens.status = 503
    clock = Clock()
    held = source(tokens, clock)
    for _ in range(3):
        with pytest.raises(TokenError) as failed:
            await held.current()
        assert failed.value.message == (
            f"the token endpoint {tokens.url} answered HTTP 503 (temporarily_unavailable)"
        )
    assert tokens.fetches == 1
    tokens.status = 200
    clock.now += 1.5
    assert await held.current()
    assert tokens.fetches == 2


@pytest.mark.anyio
async def test_a_401_renews_at_most_once_in_a_while(tokens: TokenServer) -> None:
    clock = Clock()
    held = source(tokens, clock)
    first = await held.current()
    second = await held.rejected(first)
    assert second is not None
    assert second != first
    assert await held.rejected(first) == second  # a caller late with the old one: the new one
    assert await held.rejected(second) is None  # refused again within 10 s: not renewed
    clock.now += 11
    assert await held.rejected(second) not in (None, first, second)
    assert tokens.fetches == 3
