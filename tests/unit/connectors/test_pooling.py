"""The per-System pool: reused, bounded, a broken connection dropped, a refused statement not."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from interlink.connectors.base import ConnectorError, StatementError
from interlink.connectors.pooling import Broken, Pool


class _Fakes:
    def __init__(self) -> None:
        self.numbers = itertools.count(1)
        self.opened: list[int] = []
        self.closed: list[int] = []

    async def connect(self) -> int:
        number = next(self.numbers)
        self.opened.append(number)
        return number

    async def close(self, conn: int) -> None:
        self.closed.append(conn)


def test_reuse_bound_and_drops() -> None:
    fakes = _Fakes()

    async def go() -> None:
        pool = Pool(fakes.connect, fakes.close, size=2)
        async with pool.acquire() as first:
            pass
        async with pool.acquire() as again:
            assert again == first  # reused
        with pytest.raises(StatementError):
            async with pool.acquire() as conn:
                raise StatementError("bad", system="s")
        async with pool.acquire() as conn:
            assert conn == first  # a refused statement keeps the connection
        with pytest.raises(ConnectorError, match="lost"):
            async with pool.acquire() as conn:
                raise Broken(ConnectorError("lost", system="s", retryable=True))
        assert fakes.closed == [first]
        held = 0

        async def hold() -> None:
            nonlocal held
            async with pool.acquire():
                held += 1
                assert held <= 2
                await asyncio.sleep(0.01)
                held -= 1

        await asyncio.gather(*(hold() for _ in range(6)))
        assert len(fakes.opened) <= 3  # at most 2 at once, one dropped before
        await pool.close()
        assert sorted(fakes.closed) == sorted(fakes.opened)

    asyncio.run(go())
