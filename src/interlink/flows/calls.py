"""A flow's HTTP call to a System: the URL, the credential, the idempotency key, the answer.

The URL is the System's base URL joined with the step's path, its ``{field}`` placeholders
filled from the message (``/customers/{customer}``), under the same rules as webhook
deliveries (a path cannot leave the base URL). The System's credentials ride on the call.
``Idempotency-Key`` is ``<run id>:<step name>`` (a compensation's ends in ``:compensate``),
the same on every retry and after a restart, so the System can tell a repeat from a new call.
A 2xx answer's JSON body is the step's output (None when it is empty); a 4xx fails the step at
once; a 5xx, a 429 or a network failure is retried under the step's policy.

The engine sends each call through a :class:`CallTransport`: :class:`HttpTransport` in
production; `interlink flows test` puts a test case's mocks in its place (``flows/mocks.py``).
Either way the answer is read by :func:`read_answer`, so a mocked 503 is retried exactly as a
real one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote

from interlink.errors import ConfigError, UpstreamError
from interlink.estate.kinds.contracts import Api
from interlink.estate.kinds.organisation import System
from interlink.estate.model import Estate
from interlink.estate.references import SecretSource, resolve
from interlink.events.delivery.webhook import webhook_url
from interlink.flows.payloads import MIB, size
from interlink.flows.records import quick
from interlink.flows.retry import StepFailed, retryable_status
from interlink.http.client import HttpClient
from interlink.http.credential import Credential, compile_credential
from interlink.http.credential import request as credential_request
from interlink.http.tls import ClientTls, system_tls
from interlink.observe import tracing

IDEMPOTENCY_HEADER = "Idempotency-Key"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_-]*)\}")


def expand_path(path: str, message: Any) -> str:
    """``path`` with each ``{field}`` replaced by that field of the message, percent-encoded
    (a ``/`` in it too, so a value stays one segment)."""

    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        value = message.get(name) if isinstance(message, dict) else None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise StepFailed(
                f"the path {path} needs the message's {name!r}, a string or a number",
                retryable=False,
            )
        return quote(str(value), safe="")

    return _PLACEHOLDER.sub(field, path)


@dataclass(frozen=True)
class Target:
    """Where a System's calls go: its base URL, its credential and its own TLS."""

    base_url: str
    credential: Credential | None
    tls: ClientTls | None = None


def system_targets(estate: Estate, secrets: SecretSource | None = None) -> Callable[[str], Target]:
    """A lookup of the estate's Systems; a System without a base URL, or unknown, is a
    ConfigError naming it."""
    contexts: dict[str, ClientTls | None] = {}  # built once per System and estate

    def target(name: str) -> Target:
        item = estate.get("System", name)
        if item is None or not isinstance(item.obj, System):
            raise ConfigError(f"no System {name!r} in the estate")
        system = item.obj
        if system.spec.base_url is None:
            raise ConfigError(f"System/{name} has no baseUrl for a flow to call")
        credential = None
        if system.spec.credentials is not None:
            credential = compile_credential(system.spec.credentials, name, secrets)
        if name not in contexts:
            contexts[name] = system_tls(item)
        return Target(resolve(system.spec.base_url, secrets), credential, contexts[name])

    return target


def api_targets(estate: Estate, secrets: SecretSource | None = None) -> Callable[[str], Target]:
    """A lookup of the estate's Apis: where an Api's calls go is its System's base URL, with
    that System's credentials."""
    systems = system_targets(estate, secrets)

    def target(name: str) -> Target:
        item = estate.get("Api", name)
        if item is None or not isinstance(item.obj, Api):
            raise ConfigError(f"no Api {name!r} in the estate")
        return systems(item.obj.spec.system)

    return target


@quick
@dataclass(frozen=True)
class CallRequest:
    """One call a flow step makes: ``step`` of a run of ``flow`` (its ``compensate`` call when
    ``compensate``), to the System or through the Api ``target``."""

    flow: str
    step: str
    compensate: bool
    kind: Literal["System", "Api"]
    target: str
    method: str
    path: str  # placeholders filled
    body: Any  # JSON, None for no body
    key: str  # the Idempotency-Key
    limit: int = 16 * MIB  # the largest answer read: the largest output a step may have

    @property
    def name(self) -> str:
        """The step, or ``<step>.compensate`` for its compensation."""
        return f"{self.step}.compensate" if self.compensate else self.step


@quick
@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class CallTransport(Protocol):
    """Sends a call and returns its answer: UpstreamError when none came (retried),
    StepFailed when the call cannot be made at all."""

    async def __call__(self, request: CallRequest) -> Answer: ...


class HttpTransport:
    """Calls over HTTP: to a System's base URL, or an Api's System's, with its credentials."""

    def __init__(
        self,
        client: HttpClient,
        systems: Callable[[str], Target],
        apis: Callable[[str], Target] | None = None,
    ) -> None:
        self.client = client
        self.systems = systems
        self.apis = apis  # None: no Api lookup, an enrich step cannot run

    async def __call__(self, request: CallRequest) -> Answer:
        lookup = self.systems if request.kind == "System" else self.apis
        assert lookup is not None  # the engine refuses an enriching flow without an Api lookup
        try:
            target = lookup(request.target)
        except ConfigError as exc:
            raise StepFailed(exc.message, retryable=False) from None
        return await send(
            self.client,
            target,
            request.method,
            request.path,
            request.body,
            request.key,
            request.limit,
        )


async def send(
    client: HttpClient,
    target: Target,
    method: str,
    path: str,
    body: Any,
    key: str,
    limit: int = 16 * MIB,
) -> Answer:
    """One HTTP exchange; UpstreamError when no answer came. An answer over ``limit`` bytes
    is not read further: StepFailed, not retried."""
    try:
        url = webhook_url(target.base_url, path)
    except ValueError as exc:
        raise StepFailed(f"cannot call {path}: {exc}", retryable=False) from None
    headers = [(IDEMPOTENCY_HEADER, key), ("accept", "application/json")]
    payload = None
    if body is not None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        headers.append(("content-type", "application/json"))
    traced = tracing.current()
    if traced is not None:  # the System continues the step's trace
        parent = traced.traceparent()
        if parent is not None:
            headers.append(("traceparent", parent))
    exchange = credential_request(
        client, target.credential, method, url, headers, payload, target.tls
    )
    async with await exchange as response:
        parts: list[bytes] = []
        length = 0
        async for chunk in response.body:
            length += len(chunk)
            if length > limit:
                raise StepFailed(
                    f"{method} {path} answered more than {size(limit)}, the limit of a "
                    "step's output",
                    retryable=False,
                )
            parts.append(chunk)
        return Answer(response.status, b"".join(parts))


def read_answer(method: str, path: str, answer: Answer, limit: int = 16 * MIB) -> Any:
    """An answer's JSON (None when empty), or StepFailed saying whether to retry."""
    status = answer.status
    if not 200 <= status < 300:
        raise StepFailed(
            f"{method} {path} answered {status}", retryable=retryable_status(status), status=status
        )
    if len(answer.body) > limit:
        raise StepFailed(
            f"{method} {path} answered more than {size(limit)}, the limit of a step's output",
            retryable=False,
        )
    if not answer.body.strip():
        return None
    try:
        return json.loads(answer.body)
    except ValueError:
        raise StepFailed(
            f"{method} {path} answered {status} with a body that is not JSON", retryable=False
        ) from None


async def call_through(transport: CallTransport, request: CallRequest) -> Any:
    """Send one call through ``transport``; its JSON answer, or StepFailed."""
    try:
        answer = await transport(request)
    except UpstreamError as exc:
        raise StepFailed(
            f"{request.method} {request.path}: {exc.message}", retryable=True
        ) from None
    return read_answer(request.method, request.path, answer, request.limit)


async def call(
    client: HttpClient,
    target: Target,
    method: str,
    path: str,
    body: Any,
    key: str,
    limit: int = 16 * MIB,
) -> Any:
    """Send one call over HTTP; its JSON answer, or StepFailed saying whether to retry."""
    try:
        answer = await send(client, target, method, path, body, key, limit)
    except UpstreamError as exc:
        raise StepFailed(f"{method} {path}: {exc.message}", retryable=True) from None
    return read_answer(method, path, answer, limit)
