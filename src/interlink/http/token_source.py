"""The access tokens of a System's ``oauth2`` credentials: fetched, kept and renewed in memory.

A :class:`TokenSource` asks the System's token endpoint for a token with the client
credentials grant (RFC 6749 §4.4), authenticating with the client secret (HTTP Basic, or in the
form) or with a JWT assertion signed by the platform's private key (``private_key_jwt``, RFC 7523
§2.2). It then hands out that token:

- the first call awaits the fetch; concurrent calls share it (one fetch, whatever the load);
- from 80 % of ``expires_in`` (60 s when the answer has none) a call starts a renewal in the
  background and goes on with the token at hand, until shortly before it expires, when calls
  await the renewal;
- a failed fetch is logged once a streak, without any secret, and fails the calls waiting for
  it with :class:`TokenError` (an ``UpstreamError``, 502); the next fetch is tried no sooner than
  ``RETRY`` seconds later, so a token endpoint that is down is not hammered by every call;
- a System answering 401 to a call made with the token held makes the caller drop it
  (:meth:`TokenSource.rejected`) and try once more with a fresh one; at most one token per
  ``REJECT_INTERVAL`` seconds is dropped that way, so a System that refuses every token costs
  its token endpoint one fetch per interval, not one per call.

Sources live in a process-wide registry, one per System (:func:`token_source`): the gateway's
routes, the webhook deliveries and the flow calls to a System share its token, and an estate
reload keeps it unless the System's oauth2 settings or secrets changed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, urlsplit

import httpx

from interlink.errors import UpstreamError
from interlink.http.jose import SigningKey, signed_jwt

log = logging.getLogger("interlink.http.oauth")

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME: Final = 120  # seconds an assertion is valid (RFC 7523 asks for short)
RENEW_AT: Final = 0.8  # of expires_in: when a renewal starts in the background
DEFAULT_LIFETIME: Final = 60.0  # seconds a token without expires_in is renewed after
RETRY: Final = 1.0  # seconds between two fetches after a failure
REJECT_INTERVAL: Final = 10.0  # seconds between two tokens dropped because the System said 401
TIMEOUT: Final = 10.0  # seconds for a whole token request
MAX_ANSWER: Final = 64 * 1024
MAX_TOKEN: Final = 8192
_TOKEN = re.compile(r"[\x21-\x7e]+")  # what can follow "Bearer " in a header


class TokenError(UpstreamError):
    """The System's token endpoint gave no usable token; the message says why (no secret)."""


@dataclass(frozen=True)
class TokenSettings:
    """A System's oauth2 credentials, resolved."""

    system: str
    token_url: str
    client_id: str
    auth: str  # client_secret_basic, client_secret_post or private_key_jwt
    secret: str | None = field(default=None, repr=False)
    key: SigningKey | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    audience: str | None = None

    @property
    def endpoint(self) -> str:
        """The token URL for logs and problems: scheme, host and path, no query."""
        parts = urlsplit(self.token_url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    def form(self, now: float) -> tuple[dict[str, str], dict[str, str]]:
        """The token request's form and headers."""
        form = {"grant_type": "client_credentials"}
        headers = {"accept": "application/json"}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        if self.audience is not None:
            form["audience"] = self.audience
        if self.auth == "client_secret_basic":
            assert self.secret is not None
            # RFC 6749 §2.3.1: each part form-encoded before joining them.
            pair = f"{quote(self.client_id, safe='')}:{quote(self.secret, safe='')}"
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif self.auth == "client_secret_post":
            assert self.secret is not None
            form["client_id"], form["client_secret"] = self.client_id, self.secret
        else:
            assert self.key is not None
            form["client_id"] = self.client_id
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = self.assertion(now)
        return form, headers

    def assertion(self, now: float) -> str:
        """The RFC 7523 §3 client assertion: iss and sub the client id, aud the token URL."""
        assert self.key is not None
        issued = int(now)
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "jti": secrets.token_urlsafe(16),
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME,
        }
        return signed_jwt(self.key, claims)


@dataclass(frozen=True)
class Token:
    value: str
    obtained: float  # clock time the request for it was sent
    renew_at: float
    expires_at: float


class TokenSource:
    """One System's token, as the module says."""

    def __init__(
        self,
        settings: TokenSettings,
        fingerprint: str,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.fingerprint = fingerprint  # what the settings and secrets were: a change, a new source
        self.clock = clock
        self.wall = wall
        self.token: Token | None = None
        self.fetches = 0  # token requests sent
        self._task: asyncio.Task[Token] | None = None
        self._failed_at: float | None = None
        self._error: TokenError | None = None
        self._rejected_at: float | None = None
        self.reject_interval = REJECT_INTERVAL
        self._failing = False

    def __repr__(self) -> str:
        return f"TokenSource(System/{self.settings.system} {self.settings.endpoint})"

    async def current(self) -> str:
        """The token to call the System with; TokenError when none can be had."""
        now = self.clock()
        token = self.token
        if token is not None and now < token.expires_at:
            if now >= token.renew_at and not self._running() and self._may_fetch(now):
                self._start()  # in the background: this call goes on with the token held
            return token.value
        return (await self._fetch_shared(now)).value

    async def rejected(self, used: str) -> str | None:
        """The System answered 401 to a call with ``used``: the token to try once more with,
        or None when the call should not be tried again."""
        token = self.token
        if (token is not None and token.value != used) or (token is None and self._running()):
            try:
                return await self.current()  # another call renewed it, or is renewing it
            except TokenError:
                return None
        now = self.clock()
        last = self._rejected_at
        if last is not None and 0 <= now - last < self.reject_interval:
            return None
        self._rejected_at = now
        if token is not None and token.value == used:
            self.token = None
        log.info("System/%s refused its access token (401); fetching another", self.settings.system)
        try:
            return await self.current()
        except TokenError:
            return None

    def _running(self) -> bool:
        task = self._task
        return (
            task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop()
        )

    def _may_fetch(self, now: float) -> bool:
        failed = self._failed_at
        return failed is None or not 0 <= now - failed < RETRY

    def _start(self) -> asyncio.Task[Token]:
        task = self._task = asyncio.get_running_loop().create_task(self._fetch())
        # A background renewal nobody awaits: its failure is logged by _fetch already.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    async def _fetch_shared(self, now: float) -> Token:
        task = self._task if self._running() else None
        if task is None:
            if not self._may_fetch(now) and self._error is not None:
                raise self._error
            task = self._start()
        # Shielded: a call given up on does not cancel the fetch others wait for.
        return await asyncio.shield(task)

    async def _fetch(self) -> Token:
        settings = self.settings
        sent = self.clock()
        self.fetches += 1
        try:
            token = await self._request(sent)
        except TokenError as exc:
            self._failed_at, self._error = self.clock(), exc
            if not self._failing:
                self._failing = True
                log.warning("System/%s: no access token: %s", settings.system, exc.message)
            raise
        self._failed_at = self._error = None
        if self._failing:
            self._failing = False
            log.info("System/%s: access token fetched again", settings.system)
        self.token = token
        return token

    async def _request(self, sent: float) -> Token:
        settings = self.settings
        form, headers = settings.form(self.wall())
        where = f"the token endpoint {settings.endpoint}"
        try:
            async with (
                asyncio.timeout(TIMEOUT),
                httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as c,
            ):
                response = await c.post(settings.token_url, data=form, headers=headers)
        except TimeoutError:
            raise TokenError(f"{where} did not answer within {TIMEOUT:g} s") from None
        except httpx.HTTPError as exc:
            why = str(exc) or type(exc).__name__
            raise TokenError(f"{where} could not be reached: {why}") from None
        body = response.content[:MAX_ANSWER]
        if response.status_code != 200:
            raise TokenError(f"{where} answered HTTP {response.status_code}{_oauth_error(body)}")
        return _token(body, sent, where)


def _oauth_error(body: bytes) -> str:
    """The RFC 6749 §5.2 error of an answer, as `` (error: description)``, or ''."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), str):
        return ""
    text = doc["error"]
    description = doc.get("error_description")
    if isinstance(description, str) and description:
        text += ": " + description
    return " (" + " ".join(text.split())[:200] + ")"


def _token(body: bytes, sent: float, where: str) -> Token:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise TokenError(f"{where} answered 200 with a body that is not JSON") from None
    value = doc.get("access_token") if isinstance(doc, dict) else None
    if not isinstance(value, str) or not _TOKEN.fullmatch(value) or len(value) > MAX_TOKEN:
        raise TokenError(f"{where} answered without a usable access_token")
    kind = doc.get("token_type", "Bearer")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise TokenError(f"{where} issued a {kind!r} token; only Bearer tokens are supported")
    expires_in = doc.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)  # some servers send it as a string
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        lifetime = float(expires_in)
        # Given up a little before the end, for the clocks and the call's own time.
        return Token(
            value, sent, sent + RENEW_AT * lifetime, sent + lifetime - min(30.0, 0.1 * lifetime)
        )
    # No lifetime: renewed after a minute, and used until a renewal succeeds or a 401 says so.
    return Token(value, sent, sent + DEFAULT_LIFETIME, float("inf"))


_sources: dict[str, TokenSource] = {}
_lock = threading.Lock()


def token_source(settings: TokenSettings, fingerprint: str) -> TokenSource:
    """The System's source, kept while its settings' ``fingerprint`` stays the same."""
    with _lock:
        found = _sources.get(settings.system)
        if found is None or found.fingerprint != fingerprint:
            found = _sources[settings.system] = TokenSource(settings, fingerprint)
        return found


def known_source(system: str, fingerprint: str) -> TokenSource | None:
    """The source already made for these settings, if any (saves parsing a private key)."""
    found = _sources.get(system)
    return found if found is not None and found.fingerprint == fingerprint else None


def settings_fingerprint(*parts: str | None) -> str:
    return hashlib.sha256(
        "\x00".join("\x01" if p is None else p for p in parts).encode("utf-8", "surrogatepass")
    ).hexdigest()
