"""Counters shared in Redis between gateway workers: one EVALSHA per request, never a wait.

Every call is bounded (``timeout``: the Platform's ``gateway.rateLimitStoreTimeout``, 200 ms
by default, connecting included). When Redis fails or is slow, :meth:`SharedCounters.hit`
returns None, the caller decides on its local counters, and the store is *degraded*: requests
no longer try Redis, a background task pings it every ``retry_interval`` and, once it answers
and has the script loaded, sharing resumes. The local counters are not fresh: every answer of
Redis carries the consumer's entry, which the caller keeps (``LocalLimiter.mirror``), so a
worker that stops hearing from Redis goes on from the shared counts it last saw instead of
granting the whole limit again.

A *slow* store (alive, no answer within the timeout: a busy machine, a paused or overloaded
server) and an *unreachable* one (refused, reset, unknown host) are told apart in the log, in
``/readyz`` and in ``interlink_gateway_ratelimit_store_errors_total{reason}``. Degraded shows in
the ``interlink_gateway_ratelimit_store_degraded`` gauge and, under the name
:data:`HEALTH_NAME`, in the mapping under ``DEGRADED_KEY`` in ``GatewayServices.state`` that
the admin API's ``/readyz`` lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from interlink.gateway.plans.script import SCRIPT, SHA
from interlink.observe.metrics import Registry

if TYPE_CHECKING:
    from redis.asyncio import BlockingConnectionPool

log = logging.getLogger("interlink.gateway")

HEALTH_NAME: Final = "gateway.rateLimitStore"
DEFAULT_PREFIX: Final = "interlink:rl:"
#: Seconds a call may take when neither the Platform nor the options say (the estate default).
DEFAULT_TIMEOUT: Final = 0.2


@dataclass(frozen=True, slots=True)
class PlanOptions:
    # Per request, seconds: a slower answer is decided locally. None: the Platform's
    # gateway.rateLimitStoreTimeout.
    timeout: float | None = None
    retry_interval: float = 1.0  # between pings while degraded
    max_connections: int = 64
    prefix: str | None = None  # overrides the URL's ?prefix= (tests use a unique one)
    max_entries: int = 100_000  # local entries per plan and route group (see local.py)


def split_url(url: str) -> tuple[str, str]:
    """The Redis URL without our own ``prefix`` query parameter, and the key prefix."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = DEFAULT_PREFIX
    kept = []
    for name, value in query:
        if name == "prefix":
            prefix = value
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), prefix


def display(url: str) -> str:
    """The URL without credentials, for logs and /readyz."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class SharedCounters:
    """One Redis connection pool and its health, shared by every plan limiter of a gateway."""

    def __init__(
        self,
        url: str,
        *,
        metrics: Registry,
        health: dict[str, str],
        options: PlanOptions | None = None,
    ) -> None:
        # Imported here rather than with the module: only a gateway whose Platform shares its
        # counters in Redis loads the client.
        from redis.asyncio import BlockingConnectionPool, Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import NoScriptError, RedisError
        from redis.exceptions import TimeoutError as RedisTimeout

        self._no_script = NoScriptError
        self._failures = (RedisError, OSError, TimeoutError)
        self._slow = (TimeoutError, RedisTimeout)
        options = options or PlanOptions()
        address, prefix = split_url(url)
        self.url = url
        self.where = display(address)
        self.prefix = options.prefix if options.prefix is not None else prefix
        self.timeout = options.timeout if options.timeout is not None else DEFAULT_TIMEOUT
        self.retry_interval = options.retry_interval
        self.degraded = False
        self.health = health
        self._pool: BlockingConnectionPool = BlockingConnectionPool.from_url(
            address,
            max_connections=options.max_connections,
            timeout=self.timeout,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.client = Redis(connection_pool=self._pool, retry=Retry(NoBackoff(), 0))
        self._probe: asyncio.Task[None] | None = None
        self._closed = False
        self._errors = metrics.counter(
            "interlink_gateway_ratelimit_store_errors_total",
            "Calls to the shared rate-limit store that failed, by reason: slow (no answer in "
            "time) or unreachable.",
            ("reason",),
        )
        self._gauge = metrics.gauge(
            "interlink_gateway_ratelimit_store_degraded",
            "1 while the shared rate-limit store is slow or unreachable and limits are "
            "decided locally.",
        )
        self.local_decisions = metrics.counter(
            "interlink_gateway_ratelimit_local_decisions_total",
            "Requests decided on local counters because the shared store was slow or unreachable.",
        )
        self._gauge.set(0)

    async def hit(self, key: str, args: tuple[Any, ...]) -> list[Any] | None:
        """The script's answer for ``key`` (``script.py``); None when Redis failed or was
        slow (now degraded)."""
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    result: list[Any] = await self.client.evalsha(SHA, 1, key, *args)
                except self._no_script:  # a restarted or flushed server: load it, once
                    await self.client.script_load(SCRIPT)
                    result = await self.client.evalsha(SHA, 1, key, *args)
            return result
        except self._failures as exc:
            self._degrade(exc)
            return None

    def _degrade(self, exc: BaseException) -> None:
        slow = isinstance(exc, self._slow)
        self._errors.inc("slow" if slow else "unreachable")
        if self.degraded or self._closed:
            return
        self.degraded = True
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if slow:
            state = f"slow (no answer within {self.timeout * 1000:g} ms)"
            self.health[HEALTH_NAME] = (
                f"{self.where} slow since {since}: no answer within {self.timeout * 1000:g} ms; "
                "rate limits are decided per worker, from the last shared counts, until it "
                "answers in time"
            )
        else:
            reason = str(exc) or type(exc).__name__
            state = f"unreachable ({reason})"
            self.health[HEALTH_NAME] = (
                f"{self.where} unreachable since {since} ({reason}); "
                "rate limits are counted per worker until it is back"
            )
        self._gauge.set(1)
        log.warning(
            "rate-limit store %s %s: deciding locally, retrying every %gs",
            self.where,
            state,
            self.retry_interval,
        )
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to probe from
            self._probe = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.retry_interval)
            try:
                async with asyncio.timeout(self.timeout):
                    await self.client.ping()
                async with asyncio.timeout(self.timeout):
                    await self.client.script_load(SCRIPT)
            except self._failures:
                continue
            self.degraded = False
            self.health.pop(HEALTH_NAME, None)
            self._gauge.set(0)
            log.warning("rate-limit store %s is back: limits are shared again", self.where)
            return

    async def aclose(self) -> None:
        self._closed = True
        self.health.pop(HEALTH_NAME, None)
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self.client.aclose()
        await self._pool.disconnect()
