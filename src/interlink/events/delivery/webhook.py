"""Webhook delivery: the URL, the signed POST, and what the receiver's answer means.

The URL is the target System's base URL and the subscription's path, checked when the
subscription is compiled so a path can never leave the base URL (no ``..``, no other scheme or
host). The body is the stored structured CloudEvent, sent as it is with
``content-type: application/cloudevents+json`` and Standard Webhooks headers: ``webhook-id``
is ``msg_`` and a digest of the event's source and id, the same on every retry and replay, so a
receiver deduplicates on it (an id alone is unique only within its source).

Signing secrets come from the subscription's ``secret`` reference. The resolved value may hold
several secrets separated by spaces (``whsec_old whsec_new``): every delivery is then signed
with each, which is how a secret is rotated without a moment where the receiver refuses
deliveries. The value is read again every minute, so rotating it needs no restart.

The target System's ``credentials`` (``interlink.http.credential``) ride on every delivery: a
header added to the signed ones, or a query parameter joined to the URL. With ``oauth2`` the
header carries the System's current token; when the token endpoint gives none the attempt fails
and is retried on the subscription's schedule, and a 401 to a delivery sends it once more with a
fresh token.

The HTTP client sits behind :class:`WebhookClient`: the default, :class:`PooledClient`, is the
platform's own keep-alive client (``interlink.http``); :class:`HttpxClient` is the general one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

import httpx

from interlink.errors import ConfigError, UpstreamError, UpstreamTimeout
from interlink.estate.references import SecretSource, resolve
from interlink.events.cloudevents import STRUCTURED_MEDIA_TYPE
from interlink.events.delivery.attempt import Attempt
from interlink.events.delivery.clock import Clock
from interlink.events.delivery.queue import RESPONSE_LIMIT, Job
from interlink.events.delivery.schedule import MAX_RETRY_AFTER, parse_retry_after
from interlink.events.signing import (
    ID_HEADER,
    TIMESTAMP_HEADER,
    parse_secret,
    signature_headers,
)
from interlink.events.tracing import event_traceparent
from interlink.http.client import HttpClient
from interlink.http.credential import Credential
from interlink.http.origin import Origin
from interlink.http.token_source import TokenError
from interlink.observe import tracing

log = logging.getLogger("interlink.events.delivery")


# --- the URL -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)  # a pure function of its text, asked once per call made
def webhook_url(base_url: str, path: str) -> str:
    """``base_url`` joined with ``path``; ``ValueError`` when the result could leave the base.

    The path is appended to the base URL's path (``https://h/api`` + ``/hooks`` is
    ``https://h/api/hooks``). Dot segments, also percent-encoded, backslashes, empty segments
    and control characters are refused rather than normalised: a receiver or proxy that
    normalises differently must not be able to route a delivery elsewhere.
    """
    base = urlsplit(base_url)
    if base.scheme not in ("http", "https") or not base.hostname:
        raise ValueError("the base URL must be an absolute http(s) URL")
    if base.username is not None or base.password is not None:
        raise ValueError("the base URL must not carry credentials")
    if base.query or base.fragment:
        raise ValueError("the base URL must not have a query or a fragment")
    if not path.startswith("/"):
        raise ValueError("the path must start with /")
    raw_path, _, query = path.partition("?")
    decoded = unquote(raw_path)
    if any(ord(c) < 0x21 or c == "\x7f" for c in path):
        raise ValueError("the path must not hold spaces or control characters")
    if "\\" in decoded or "#" in path:
        raise ValueError("the path must not hold a backslash or a fragment")
    segments = decoded.split("/")[1:]
    if any(s in (".", "..") for s in segments):
        raise ValueError("the path must not hold '.' or '..' segments")
    if any(s == "" for s in segments[:-1]):
        raise ValueError("the path must not hold empty segments ('//')")
    prefix = base.path.rstrip("/")
    joined = f"{base.scheme}://{base.netloc}{prefix}{raw_path}" + (f"?{query}" if query else "")
    check = urlsplit(joined)
    if (check.scheme, check.netloc) != (base.scheme, base.netloc) or not check.path.startswith(
        prefix
    ):
        raise ValueError("the path leaves the base URL")
    return joined


def webhook_id(source: str, event_id: str) -> str:
    """The ``webhook-id`` for an event: ``msg_`` and 32 hex digits of sha256 over
    ``source + "\\n" + id``, the pair that identifies a CloudEvent (and the ingress dedups on).
    A source is a URI-reference, which holds no newline, so no two pairs join to one text."""
    text = f"{source}\n{event_id}".encode("utf-8", "surrogatepass")
    return "msg_" + hashlib.sha256(text).hexdigest()[:32]


def source_of(body: bytes) -> str:
    """The ``source`` of a stored structured CloudEvent ("" if the body has none)."""
    try:
        event = json.loads(body)
    except ValueError:
        return ""
    source = event.get("source") if isinstance(event, dict) else None
    return source if isinstance(source, str) else ""


# --- signing keys ------------------------------------------------------------------------------


class SigningKeys:
    """The key bytes behind a secret reference, read again every ``refresh`` seconds."""

    def __init__(
        self, subscription: str, reference: str, source: SecretSource, refresh: float = 60.0
    ) -> None:
        self.subscription = subscription
        self.reference = reference
        self.source = source
        self.refresh = refresh
        self._keys = self._load()  # raises ConfigError: a subscription without keys is not run
        self._loaded = time.monotonic()
        self._warned = False

    def _load(self) -> list[bytes]:
        value = resolve(self.reference, self.source)
        parts = value.split()
        if not parts:
            raise ConfigError(f"the signing secret {self.reference} is empty")
        return [parse_secret(part) for part in parts]

    def keys(self) -> list[bytes]:
        if time.monotonic() - self._loaded >= self.refresh:
            self._loaded = time.monotonic()
            try:
                self._keys = self._load()
                self._warned = False
            except ConfigError as exc:
                if not self._warned:
                    self._warned = True
                    # The message names the reference, never a value.
                    log.warning(
                        "subscription %s: cannot read its signing secret again (%s); "
                        "signing with the previous one",
                        self.subscription,
                        exc.message,
                    )
        return self._keys


# --- the HTTP client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes  # the first ``body_limit`` bytes


@dataclass(frozen=True)
class ClientLimits:
    max_connections: int
    body_limit: int = RESPONSE_LIMIT + 1  # bytes of a response body kept


class WebhookClient(Protocol):
    """Sends one POST within ``timeout`` seconds: raises ``TimeoutError`` when it runs out,
    ``ConnectionError``/``OSError`` when the exchange fails, else returns the response."""

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> WebhookResponse: ...

    async def aclose(self) -> None: ...


ClientFactory = Callable[[ClientLimits], WebhookClient]


class PooledClient:
    """``WebhookClient`` on the platform's own HTTP/1.1 client (``interlink.http``), the one the
    gateway proxies with: keep-alive pools, llhttp parsing, a fraction of a general client's CPU
    cost per request. Only the first ``body_limit`` bytes of an answer are read; a longer body
    costs its connection rather than the time to read it."""

    def __init__(self, limits: ClientLimits) -> None:
        self.body_limit = limits.body_limit
        self._client = HttpClient(max_connections=limits.max_connections)
        self._targets: dict[str, tuple[Origin, bytes]] = {}

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> WebhookResponse:
        target = self._targets.get(url)
        if target is None:
            try:
                origin, path = Origin.parse(url)
            except ConfigError as exc:
                raise ConnectionError(exc.message) from None
            target = self._targets[url] = (origin, (path or "/").encode("latin-1"))
        encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.send(
                    target[0],
                    b"POST",
                    target[1],
                    encoded,
                    body,
                    connect_timeout=timeout,
                    read_timeout=timeout,
                )
                async with response:
                    kept = bytearray()
                    async for chunk in response.body:
                        kept += chunk[: self.body_limit - len(kept)]
                        if len(kept) >= self.body_limit:
                            break
        except UpstreamTimeout as exc:
            raise TimeoutError(exc.message) from exc
        except UpstreamError as exc:
            raise ConnectionError(exc.message) from exc
        names = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
        return WebhookResponse(response.status, names, bytes(kept))

    async def aclose(self) -> None:
        await self._client.aclose()


def default_client(limits: ClientLimits) -> WebhookClient:
    return PooledClient(limits)


class HttpxClient:
    """``WebhookClient`` on httpx: general and slower (see ``bench/events_delivery.py``)."""

    def __init__(self, limits: ClientLimits) -> None:
        self.body_limit = limits.body_limit
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_connections,
            ),
            follow_redirects=False,
            trust_env=False,
        )

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> WebhookResponse:
        try:
            async with (
                asyncio.timeout(timeout),
                self._client.stream(
                    "POST", url, content=body, headers=dict(headers), timeout=timeout
                ) as response,
            ):
                kept = bytearray()
                async for chunk in response.aiter_raw():
                    kept += chunk[: self.body_limit - len(kept)]
                    if len(kept) >= self.body_limit:
                        break
                return WebhookResponse(
                    response.status_code,
                    {k.lower(): v for k, v in response.headers.items()},
                    bytes(kept),
                )
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc) or "timed out") from exc
        except httpx.HTTPError as exc:
            raise ConnectionError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        await self._client.aclose()


# --- the sender --------------------------------------------------------------------------------


class WebhookSender:
    """Signs and POSTs a job, and reads the answer into an :class:`Attempt`."""

    needs_trace_context = False  # it sends an unrecorded event's own traceparent by itself

    def __init__(
        self,
        url: str,
        client: WebhookClient,
        clock: Clock,
        *,
        keys: SigningKeys | None,
        timeout: float,
        response_limit: int = RESPONSE_LIMIT,
        retry_after_max: float = MAX_RETRY_AFTER,
        credential: Credential | None = None,
    ) -> None:
        # The target System's credential: a query parameter joins the URL here, a header
        # is added to each request.
        self.url = credential.url(url) if credential is not None else url
        self.credential_header = credential.header_text() if credential is not None else None
        # oauth2: the token is asked for on each delivery (it is renewed as it expires).
        self.token = credential if credential is not None and credential.source else None
        self.client = client
        self.clock = clock
        self.keys = keys
        self.timeout = timeout
        self.response_limit = response_limit
        self.retry_after_max = retry_after_max

    async def send(self, job: Job) -> Attempt:
        now = self.clock.now()
        timestamp = int(now.timestamp())
        msg_id = webhook_id(source_of(job.body), job.event_id)
        headers = {"content-type": STRUCTURED_MEDIA_TYPE}
        if self.keys is not None:
            headers.update(
                signature_headers(self.keys.keys(), msg_id, job.body, timestamp=timestamp)
            )
        else:
            headers[ID_HEADER] = msg_id
            headers[TIMESTAMP_HEADER] = str(timestamp)
        if self.credential_header is not None and self.token is None:
            name, value = self.credential_header
            headers[name] = value
        traced = tracing.current()
        if traced is not None:  # the receiver continues the attempt's trace, else the event's
            parent = traced.traceparent() or event_traceparent(job.body)
            if parent is not None:
                headers["traceparent"] = parent
        if self.token is not None:
            return await self._with_token(self.token, job, headers)
        return self.judge(await self._post(job, headers))

    async def _with_token(
        self, credential: Credential, job: Job, headers: dict[str, str]
    ) -> Attempt:
        """A delivery with the System's oauth2 token; a 401 drops it, and the delivery goes
        once more with a fresh one. No token is a failed attempt, retried on schedule."""
        try:
            used = await credential.current()
        except TokenError as exc:
            return Attempt(False, error=exc.message)
        answer = await self._post(job, _with_header(headers, used))
        if isinstance(answer, WebhookResponse) and answer.status == 401:
            fresh = await credential.renewed(used)
            if fresh is not None:
                answer = await self._post(job, _with_header(headers, fresh))
        return self.judge(answer)

    async def _post(self, job: Job, headers: Mapping[str, str]) -> WebhookResponse | Attempt:
        """The receiver's answer, or the failed attempt when none came."""
        try:
            return await self.client.post(self.url, job.body, headers, self.timeout)
        except TimeoutError:
            return Attempt(False, error=f"no answer within {self.timeout:g}s")
        except (ConnectionError, OSError) as exc:
            return Attempt(False, error=_one_line(exc))
        except Exception as exc:  # a client bug must cost a retry, not the dispatcher
            log.exception("webhook client failed unexpectedly")
            return Attempt(False, error=_one_line(exc))

    def judge(self, response: WebhookResponse | Attempt) -> Attempt:
        if isinstance(response, Attempt):
            return response
        status = response.status
        if 200 <= status < 300:
            return Attempt(True, status)
        # One byte past the limit is read, so the queue can mark the text as cut.
        text = response.body[: self.response_limit + 1].decode("utf-8", "replace")
        if status == 410:
            return Attempt(False, status, "HTTP 410 Gone", text, gone=True)
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(
                response.headers.get("retry-after"), self.clock.now(), self.retry_after_max
            )
        return Attempt(False, status, f"HTTP {status}", text, retry_after)

    async def aclose(self) -> None:
        await self.client.aclose()


def _with_header(headers: dict[str, str], credential: Credential) -> dict[str, str]:
    pair = credential.header_text()
    return {**headers, pair[0]: pair[1]} if pair is not None else headers


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
